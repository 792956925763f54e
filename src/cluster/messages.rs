//! What nodefusion's plan codecs write: an [`Envelope`] holding one of our plan nodes, or
//! the bytes of Ballista's own codec for everything else (shuffles, file formats).
//! Expressions, fields and scalars inside are DataFusion's own protobuf messages.

use datafusion::common::{Result, plan_datafusion_err};
use datafusion_proto::protobuf::{Field, LogicalExprNode, PhysicalExprNode, ScalarValue};
use prost::{Message, Oneof};

use std::sync::Arc;

use datafusion::physical_plan::ExecutionPlan;

use super::part_writer::PartWriterExec;
use crate::parts::PartsTarget;
use crate::plan::Exchange;
use crate::settings::{NodeSettings, RunSettings};

/// One encoded plan node.
#[derive(Clone, PartialEq, Message)]
pub struct Envelope {
    /// What it holds.
    #[prost(oneof = "Body", tags = "1, 2, 3, 4, 5, 6, 7, 8")]
    pub body: Option<Body>,
}

/// The kinds of node an [`Envelope`] holds.
#[derive(Clone, PartialEq, Oneof)]
pub enum Body {
    /// Anything else, in the bytes of Ballista's codec.
    #[prost(bytes, tag = "1")]
    Ballista(Vec<u8>),
    /// A logical `NodeCallNode`.
    #[prost(message, tag = "2")]
    NodeCall(NodeCallMessage),
    /// A logical `ExchangeNode`, or one of the operators of an exchange.
    #[prost(message, tag = "3")]
    Exchange(ExchangeMessage),
    /// A `NodeExec`.
    #[prost(message, tag = "4")]
    NodeExec(NodeExecMessage),
    /// `top_k`'s table or operator (`nodefusion_udfs::retrieval`'s bytes).
    #[prost(bytes, tag = "5")]
    TopK(Vec<u8>),
    /// A `NodeExpression`: the node's name (its expression travels as its child).
    #[prost(string, tag = "6")]
    NodeExpression(String),
    /// A `PartWriterExec`.
    #[prost(message, tag = "7")]
    PartWriter(PartWriterMessage),
    /// Calls evaluated in their fused form (`LoweredClassReplacement`): the calls travel as
    /// its child, and are fused again where they are decoded.
    #[prost(message, tag = "8")]
    FusedCalls(FusedCallsMessage),
}

/// Fused calls have nothing of their own to encode: their calls are their child.
#[derive(Clone, PartialEq, Message)]
pub struct FusedCallsMessage {}

/// A node setting as text.
#[derive(Clone, PartialEq, Message)]
pub struct SettingMessage {
    /// The setting's name.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Its value, as `SET` takes it.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// A logical node call.
#[derive(Clone, PartialEq, Message)]
pub struct NodeCallMessage {
    /// The node's name.
    #[prost(string, tag = "1")]
    pub node: String,
    /// The call.
    #[prost(message, optional, tag = "2")]
    pub call: Option<LogicalExprNode>,
    /// The output column.
    #[prost(string, tag = "3")]
    pub output: String,
    /// The settings it runs with.
    #[prost(message, repeated, tag = "4")]
    pub settings: Vec<SettingMessage>,
    /// Whether a pipeline segment deals its input.
    #[prost(bool, tag = "5")]
    pub dealt_input: bool,
}

/// An exchange: 0 re-cut to `size` rows, 1 scattered over `size` partitions, 2 gathered.
#[derive(Clone, PartialEq, Message)]
pub struct ExchangeMessage {
    /// Which exchange.
    #[prost(uint32, tag = "1")]
    pub kind: u32,
    /// Its batch size or partitions.
    #[prost(uint64, tag = "2")]
    pub size: u64,
}

/// A constant argument, or none (a column).
#[derive(Clone, PartialEq, Message)]
pub struct ConstantMessage {
    /// The constant.
    #[prost(message, optional, tag = "1")]
    pub value: Option<ScalarValue>,
}

/// The node operator.
#[derive(Clone, PartialEq, Message)]
pub struct NodeExecMessage {
    /// The node's name.
    #[prost(string, tag = "1")]
    pub node: String,
    /// The function, by its registered name.
    #[prost(string, tag = "2")]
    pub function: String,
    /// The arguments.
    #[prost(message, repeated, tag = "3")]
    pub arguments: Vec<PhysicalExprNode>,
    /// The constant arguments, one per argument.
    #[prost(message, repeated, tag = "4")]
    pub constants: Vec<ConstantMessage>,
    /// The threads of an instance, if set.
    #[prost(uint64, optional, tag = "5")]
    pub threads: Option<u64>,
    /// The output column.
    #[prost(message, optional, tag = "6")]
    pub output: Option<Field>,
    /// The settings it runs with.
    #[prost(message, repeated, tag = "7")]
    pub settings: Vec<SettingMessage>,
    /// Whether a pipeline segment deals its input.
    #[prost(bool, tag = "8")]
    pub dealt_input: bool,
    /// The executors that run it, as the scheduler counted them.
    #[prost(uint64, optional, tag = "9")]
    pub executors: Option<u64>,
}

/// The writer of an output's parts on the executors.
#[derive(Clone, PartialEq, Message)]
pub struct PartWriterMessage {
    /// The staging prefix's URL.
    #[prost(string, tag = "1")]
    pub staging_url: String,
    /// The run's mark in the files' names.
    #[prost(string, tag = "2")]
    pub run: String,
    /// The Parquet codec.
    #[prost(string, tag = "3")]
    pub compression: String,
    /// The most rows per row group.
    #[prost(uint64, tag = "4")]
    pub row_group_rows: u64,
    /// Where each node's operators are.
    #[prost(message, repeated, tag = "5")]
    pub nodes: Vec<NodePositionsMessage>,
}

/// A node and the positions of its operators in a chain.
#[derive(Clone, PartialEq, Message)]
pub struct NodePositionsMessage {
    /// The node's name.
    #[prost(string, tag = "1")]
    pub node: String,
    /// The positions, from the chain's leaf.
    #[prost(uint64, repeated, tag = "2")]
    pub positions: Vec<u64>,
}

impl From<&PartWriterExec> for PartWriterMessage {
    fn from(writer: &PartWriterExec) -> Self {
        let target = writer.target();
        Self {
            staging_url: target.staging_url.clone(),
            run: target.run.clone(),
            compression: target.compression.clone(),
            row_group_rows: target.row_group_rows as u64,
            nodes: writer
                .nodes()
                .iter()
                .map(|(node, positions)| NodePositionsMessage {
                    node: node.clone(),
                    positions: positions.iter().map(|position| *position as u64).collect(),
                })
                .collect(),
        }
    }
}

impl PartWriterMessage {
    /// The writer this message stands for, over `input`.
    pub fn writer(&self, input: Arc<dyn ExecutionPlan>) -> PartWriterExec {
        let target = PartsTarget {
            staging_url: self.staging_url.clone(),
            run: self.run.clone(),
            compression: self.compression.clone(),
            row_group_rows: usize::try_from(self.row_group_rows).unwrap_or(usize::MAX),
        };
        let nodes = self
            .nodes
            .iter()
            .map(|node| {
                let positions = node
                    .positions
                    .iter()
                    .map(|position| usize::try_from(*position).unwrap_or(usize::MAX))
                    .collect();
                (node.node.clone(), positions)
            })
            .collect();
        PartWriterExec::new(input, target, nodes)
    }
}

impl Envelope {
    /// An envelope around `body`, as bytes.
    pub fn encode_body(body: Body, buf: &mut Vec<u8>) -> Result<()> {
        Self { body: Some(body) }
            .encode(buf)
            .map_err(|error| plan_datafusion_err!("encoding a plan node: {error}"))
    }

    /// The body of the envelope in `buf`.
    pub fn decode_body(buf: &[u8]) -> Result<Body> {
        Self::decode(buf)
            .map_err(|error| plan_datafusion_err!("decoding a plan node: {error}"))?
            .body
            .ok_or_else(|| plan_datafusion_err!("decoding a plan node: the message is empty"))
    }
}

/// `settings` as text entries.
pub fn settings_message(settings: &RunSettings) -> Vec<SettingMessage> {
    settings
        .as_layer()
        .entries("")
        .into_iter()
        .filter_map(|entry| {
            entry.value.map(|value| SettingMessage {
                key: entry.key,
                value,
            })
        })
        .collect()
}

/// The settings of `entries` (from [`settings_message`]).
pub fn run_settings(entries: &[SettingMessage]) -> Result<RunSettings> {
    let mut layer = NodeSettings::default();
    for entry in entries {
        layer
            .set_text(&entry.key, &entry.value)
            .map_err(|error| plan_datafusion_err!("decoding a node's settings: {error}"))?;
    }
    Ok(layer.with_builtins())
}

impl From<Exchange> for ExchangeMessage {
    fn from(exchange: Exchange) -> Self {
        let (kind, size) = match exchange {
            Exchange::Rechunk { batch_size } => (0, batch_size),
            Exchange::Scatter { partitions } => (1, partitions),
            Exchange::Gather => (2, 0),
        };
        Self {
            kind,
            size: size as u64,
        }
    }
}

impl TryFrom<&ExchangeMessage> for Exchange {
    type Error = datafusion::error::DataFusionError;

    fn try_from(message: &ExchangeMessage) -> Result<Self> {
        let size = usize::try_from(message.size)
            .map_err(|_| plan_datafusion_err!("an exchange of {} is too large", message.size))?;
        match message.kind {
            0 => Ok(Exchange::Rechunk { batch_size: size }),
            1 => Ok(Exchange::Scatter { partitions: size }),
            2 => Ok(Exchange::Gather),
            other => Err(plan_datafusion_err!("unknown exchange kind {other}")),
        }
    }
}
