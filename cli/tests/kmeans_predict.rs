//! A `predict` stage serving a `kmeans` model end to end (issue 15): a coordinator and two
//! nodes as real processes run `kmeans` (k = 3) at parallelism 2 on parameter servers over
//! one rate-limited input, and a `predict` stage at parallelism 3 assigning the rows of a
//! second input with the learner's `champion`; while it runs, `model alias clusters champion
//! V1`, then `model deploy clusters V2` (which moves `champion`).
//!
//! Then, against the second input: every record is assigned exactly once; per input file, in
//! input order, the outputs go from unassigned (null `cluster`, `prediction` and
//! `model_version`) to V1 to V2, once each; and every row's `cluster` (and `prediction`, the
//! same index as f64) is the centroid nearest to it — by squared distance, the first of
//! equals — among the centroids of `quiver model export` of the version that assigned it,
//! computed here without the library.

mod common;

use common::cluster::Cluster;
use common::predict::{assert_scored_in_phases, champion_v1, deploy, submit, Row, ROWS};

/// The learner: `clusters`, online k-means with 3 centroids.
const LEARNER: &str = "clusters";
const K: usize = 3;

/// The centroids of version `version`: the export's first `K × 2` values (the centroids'
/// coordinates; their weights follow).
fn centroids(cluster: &Cluster, version: u64) -> Vec<[f64; 2]> {
    let parameters = cluster.export_parameters("job-1", LEARNER, version);
    assert_eq!(parameters.len(), K * 2 + K, "chk-{version}: {parameters:?}");
    parameters[..K * 2]
        .chunks(2)
        .map(|c| [c[0], c[1]])
        .collect()
}

/// The index of the centroid nearest to `x`, the first of equals.
fn nearest(centroids: &[[f64; 2]], x: [f64; 2]) -> usize {
    let distance = |c: &[f64; 2]| (x[0] - c[0]).powi(2) + (x[1] - c[1]).powi(2);
    let mut best = 0;
    for (i, c) in centroids.iter().enumerate() {
        if distance(c) < distance(&centroids[best]) {
            best = i;
        }
    }
    best
}

#[test]
fn a_predict_stage_assigns_every_record_once_to_the_nearest_centroid_of_the_version_it_serves() {
    let spec = common::predict::spec(
        LEARNER,
        &format!("kind = \"kmeans\"\nfeatures = [\"x1\", \"x2\"]\nk = {K}"),
    );
    let mut cluster = Cluster::on_loopback(2);
    let requests: [Vec<Row>; 2] = submit(&cluster, &spec, ROWS);
    let (v1, v2) = champion_v1(&cluster, LEARNER);
    deploy(&cluster, LEARNER, v2);
    cluster.wait_for_finish();
    let versions = [(v1, centroids(&cluster, v1)), (v2, centroids(&cluster, v2))];
    assert_ne!(
        versions[0].1, versions[1].1,
        "V1 and V2 have the same centroids"
    );
    let outputs = ["cluster", "prediction"];
    assert_scored_in_phases(
        &cluster,
        &requests,
        (v1, v2),
        &outputs,
        |row, r, version| {
            let Some((_, centroids)) = versions.iter().find(|(v, _)| *v == version) else {
                panic!("{row}: assigned by chk-{version}, neither V1 nor V2");
            };
            let expected = nearest(centroids, r.x);
            assert_eq!(
                (row["cluster"].as_u64(), row["prediction"].as_f64()),
                (Some(expected as u64), Some(expected as f64)),
                "record {} by chk-{version}: {row}; centroids {centroids:?}",
                r.id
            );
        },
    );
}
