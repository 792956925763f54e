//! The bf16 products ([`crate::bf16_matrix`]) on Intel AMX tiles (Sapphire Rapids and later
//! Xeons): `tdpbf16ps` multiplies a tile of 16 rows x 32 bf16 activations by a tile of 32 x 16
//! bf16 weights into 16 x 16 `f32` sums, sixteen times the arithmetic of one AVX-512
//! `vdpbf16ps`. The bf16 packing is already the tile layout the instruction reads: a panel's
//! pairs of inner rows, one 64-byte vector per pair and half panel, are the rows of a weight
//! tile 128 bytes apart. One call takes up to [`TILE_BLOCK_ROWS`] rows against a whole panel,
//! four tiles of sums (two row tiles x two half panels) that stay in the tile registers over
//! the inner dimension; inner pairs beyond a whole tile are added in `f32` afterwards.
//!
//! Rust has no stable AMX intrinsics, so the instructions are inline assembly, and Linux lends
//! a process the tile registers only once it asks (`arch_prctl(ARCH_REQ_XCOMP_PERM)`), which
//! [`tiles_supported`] does, once. `NODEFUSION_AMX=0` (or `off`) turns the tiles off (the
//! AVX-512 kernel then runs: for comparisons).

use std::sync::OnceLock;

use crate::packed_matrix::{Block, PANEL_COLUMNS, Target};

/// Rows one call of [`add_tile_block`] takes: two tiles of sixteen.
pub(crate) const TILE_BLOCK_ROWS: usize = 2 * TILE_ROWS;

/// Rows of one tile.
const TILE_ROWS: usize = 16;

/// Inner pairs one tile holds: sixteen pairs of bf16, 64 bytes a row.
const TILE_PAIRS: usize = 16;

/// Bytes from one row of a weight tile to the next: the two half panels' vectors of a pair.
const WEIGHT_TILE_STRIDE: usize = 2 * 64;

/// Whether this process may use the AMX bf16 tiles: the CPU has them, `NODEFUSION_AMX` does
/// not turn them off (`0`, `false`, `off` or `no`, any case), and the kernel granted the tile
/// registers.
pub(crate) fn tiles_supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        let turned_off = std::env::var("NODEFUSION_AMX").is_ok_and(|value| {
            ["0", "false", "off", "no"].contains(&value.trim().to_ascii_lowercase().as_str())
        });
        !turned_off && request_tiles()
    })
}

/// Asks Linux for the tile registers where the CPU has AMX-TILE and AMX-BF16.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request_tiles() -> bool {
    /// `arch_prctl` request for permission to use an extended state component.
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    /// The extended state component of the tile data.
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    let features = std::arch::x86_64::__cpuid_count(7, 0).edx;
    let (amx_bf16, amx_tile) = (features & (1 << 22) != 0, features & (1 << 24) != 0);
    // SAFETY: `arch_prctl` with this request reads two integers and changes no memory of ours.
    amx_bf16
        && amx_tile
        && unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            )
        } == 0
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn request_tiles() -> bool {
    false
}

/// The tile configuration `ldtilecfg` reads (palette 1): tiles 0 and 1 the activations'
/// upper and lower rows, 2 and 3 the two half panels of weights, 4 to 7 the sums (upper rows
/// x left half, upper x right, lower x left, lower x right). Tiles of no rows are unused.
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    row_bytes: [u16; 16],
    rows: [u8; 16],
}

impl TileConfig {
    /// The configuration for `upper` rows in the first row tile and `lower` in the second.
    fn new(upper: usize, lower: usize) -> Self {
        let mut config = Self {
            palette: 1,
            start_row: 0,
            reserved: [0; 14],
            row_bytes: [0; 16],
            rows: [0; 16],
        };
        for (tile, rows) in [
            (0, upper),
            (1, lower),
            (2, TILE_PAIRS),
            (3, TILE_PAIRS),
            (4, upper),
            (5, upper),
            (6, lower),
            (7, lower),
        ] {
            if rows > 0 {
                config.rows[tile] = rows as u8;
                config.row_bytes[tile] = 64;
            }
        }
        config
    }
}

/// Adds `rows` (1 to [`TILE_BLOCK_ROWS`]) rows of `block.activations` (bf16) times the
/// block's panel of bf16 weights to `target`.
///
/// # Safety
/// [`tiles_supported`] must have returned true; `block` and `target` as for
/// [`crate::packed_matrix::PairFormat::micro_kernel`] with `rows` rows.
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn add_tile_block(rows: usize, block: Block, target: Target) {
    use std::arch::asm;
    debug_assert!((1..=TILE_BLOCK_ROWS).contains(&rows));
    let pairs = block.pairs;
    debug_assert!(block.activations.len() >= rows * 2 * pairs && block.weights.len() >= 2 * pairs);
    let (upper, lower) = (rows.min(TILE_ROWS), rows.saturating_sub(TILE_ROWS));
    let whole_tiles = pairs / TILE_PAIRS * TILE_PAIRS;
    let activation_stride = pairs * 4;
    let config = TileConfig::new(upper, lower);
    let mut sums = [[0f32; PANEL_COLUMNS]; TILE_BLOCK_ROWS];
    let activations = block.activations.as_ptr();
    let lower_activations = activations.wrapping_add(TILE_ROWS * 2 * pairs);
    let weights = block.weights.as_ptr();
    let sum_stride = PANEL_COLUMNS * 4;
    // SAFETY: the tiles are granted (this function's contract) and configured first. Every
    // tile load reads inside the block: an activation tile `rows` rows of 64 bytes at pair
    // `first < whole_tiles` of rows `pairs` pairs long, a weight tile the 16 pairs from
    // `first` of the panel (two vectors a pair). The stores write `upper` and `lower` rows of
    // 64 bytes into `sums`, rows of `PANEL_COLUMNS` values. The tiles are released at the end.
    unsafe {
        asm!("ldtilecfg [{}]", in(reg) &config, options(nostack, readonly));
        asm!("tilezero tmm4", "tilezero tmm5", options(nostack, nomem));
        if lower > 0 {
            asm!("tilezero tmm6", "tilezero tmm7", options(nostack, nomem));
        }
        for first in (0..whole_tiles).step_by(TILE_PAIRS) {
            let left = weights.add(2 * first);
            let right = weights.add(2 * first + 1);
            asm!(
                "tileloadd tmm0, [{upper} + {activation_stride}*1]",
                "tileloadd tmm2, [{left} + {weight_stride}*1]",
                "tileloadd tmm3, [{right} + {weight_stride}*1]",
                "tdpbf16ps tmm4, tmm0, tmm2",
                "tdpbf16ps tmm5, tmm0, tmm3",
                upper = in(reg) activations.add(2 * first),
                activation_stride = in(reg) activation_stride,
                left = in(reg) left,
                right = in(reg) right,
                weight_stride = in(reg) WEIGHT_TILE_STRIDE,
                options(nostack, readonly),
            );
            if lower > 0 {
                asm!(
                    "tileloadd tmm1, [{lower} + {activation_stride}*1]",
                    "tdpbf16ps tmm6, tmm1, tmm2",
                    "tdpbf16ps tmm7, tmm1, tmm3",
                    lower = in(reg) lower_activations.add(2 * first),
                    activation_stride = in(reg) activation_stride,
                    options(nostack, readonly),
                );
            }
        }
        let sums_at = sums.as_mut_ptr().cast::<f32>();
        asm!(
            "tilestored [{left} + {stride}*1], tmm4",
            "tilestored [{right} + {stride}*1], tmm5",
            left = in(reg) sums_at,
            right = in(reg) sums_at.add(16),
            stride = in(reg) sum_stride,
            options(nostack),
        );
        if lower > 0 {
            asm!(
                "tilestored [{left} + {stride}*1], tmm6",
                "tilestored [{right} + {stride}*1], tmm7",
                left = in(reg) sums_at.add(TILE_ROWS * PANEL_COLUMNS),
                right = in(reg) sums_at.add(TILE_ROWS * PANEL_COLUMNS + 16),
                stride = in(reg) sum_stride,
                options(nostack),
            );
        }
        asm!("tilerelease", options(nostack, nomem));
    }
    add_remaining_pairs(&block, whole_tiles, &mut sums[..rows]);
    for (row, sums) in sums[..rows].iter().enumerate() {
        let output = &mut target.output[row * target.row_stride..][..target.width];
        for (value, sum) in output.iter_mut().zip(sums) {
            *value += sum;
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe fn add_tile_block(_rows: usize, _block: Block, _target: Target) {
    unreachable!("AMX tiles are only on x86-64");
}

/// Adds the products of the block's inner pairs from `first` on (fewer than a tile) to
/// `sums`, one row of the block each, in `f32`.
fn add_remaining_pairs(block: &Block, first: usize, sums: &mut [[f32; PANEL_COLUMNS]]) {
    let widen = |value: u16| f32::from_bits(u32::from(value) << 16);
    for (row, sums) in sums.iter_mut().enumerate() {
        let activations = &block.activations[row * 2 * block.pairs..][..2 * block.pairs];
        for pair in first..block.pairs {
            let (even, odd) = (
                widen(activations[2 * pair]),
                widen(activations[2 * pair + 1]),
            );
            for (column, sum) in sums.iter_mut().enumerate() {
                let vector = &block.weights[2 * pair + column / 16].0;
                let lane = 2 * (column % 16);
                *sum += even * widen(vector[lane]) + odd * widen(vector[lane + 1]);
            }
        }
    }
}
