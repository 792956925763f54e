//! [`listing_url`]: the files a location names, as DataFusion lists them. DataFusion
//! expands a glob in a local path (`data/*.parquet`) but takes a URL's whole path as a key
//! (`s3://bucket/in/*.parquet` finds nothing); here a URL's glob is split off as a local
//! path's is: the prefix before its first wildcard is listed, the rest matches what is
//! found.

use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::listing::ListingTableUrl;

/// Characters that make a path segment a pattern.
const WILDCARDS: [char; 3] = ['*', '?', '['];

/// The listing of `location`: a path, a URL, or either with a glob.
pub fn listing_url(location: &str) -> Result<ListingTableUrl> {
    let Some((scheme, rest)) = location.split_once("://") else {
        return ListingTableUrl::parse(location);
    };
    let Some(wildcard) = rest.find(WILDCARDS) else {
        return ListingTableUrl::parse(location);
    };
    if scheme.eq_ignore_ascii_case("file") {
        return ListingTableUrl::parse(rest);
    }
    let Some(prefix_end) = rest[..wildcard].rfind('/') else {
        return Err(DataFusionError::Plan(format!(
            "'{location}': a pattern in the bucket's name (only the key may hold one)"
        )));
    };
    let prefix = format!("{scheme}://{}", &rest[..=prefix_end]);
    let pattern = &rest[prefix_end + 1..];
    let url =
        url::Url::parse(&prefix).map_err(|error| DataFusionError::External(Box::new(error)))?;
    let glob = glob::Pattern::new(pattern).map_err(|error| {
        DataFusionError::Plan(format!("'{location}': bad pattern '{pattern}': {error}"))
    })?;
    ListingTableUrl::try_new(url, Some(glob))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_with_a_pattern_lists_its_prefix_and_matches_the_rest() {
        let url = listing_url("s3://bucket/in/*.parquet").unwrap();
        assert_eq!(url.as_str(), "s3://bucket/in/");
        assert!(url.contains(&"in/a.parquet".into(), false));
        assert!(!url.contains(&"in/a.csv".into(), false));
        let plain = listing_url("s3://bucket/in/a.parquet").unwrap();
        assert!(plain.contains(&"in/a.parquet".into(), false));
        let error = listing_url("s3://bu*ket/a").unwrap_err();
        assert!(error.to_string().contains("bucket's name"), "{error}");
    }
}
