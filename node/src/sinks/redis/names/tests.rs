use super::*;
use crate::sinks::test_context;

/// Partition `partition` of `parallelism` in generation 9.
fn ctx(partition: u32, parallelism: u32, restored: Option<(u64, u64)>) -> SinkContext {
    test_context(partition, parallelism, 9, restored)
}

fn chunk(generation: u64, checkpoint: u64, partition: u32, index: u32) -> Chunk {
    Chunk {
        checkpoint: CheckpointId(checkpoint),
        generation: Generation(generation),
        partition,
        index,
    }
}

#[test]
fn names_live_under_the_lineage_and_sink() {
    let ns = Namespace::new(0xab, "out");
    assert_eq!(ns.owner(), "quiver:ab:out:owner");
    assert_eq!(ns.index(), "quiver:ab:out:staged");
    assert_eq!(
        ns.chunk(&chunk(3, 7, 1, 0)),
        "quiver:ab:out:staged:g3:c7:p1:k0"
    );
}

#[test]
fn members_read_back_and_nothing_else_does() {
    let c = chunk(3, 7, 1, 12);
    assert_eq!(Chunk::parse(&c.member()), Some(c));
    for other in [
        "",
        "g3:c7:p1",
        "g3:c7:p1:k0:x",
        "c7:g3:p1:k0",
        "g3:c-7:p1:k0",
        "gx:c7:p1:k0",
    ] {
        assert_eq!(Chunk::parse(other), None, "{other}");
    }
}

#[test]
fn a_fresh_start_discards_what_it_owns() {
    let members = [chunk(1, 1, 0, 0), chunk(1, 2, 1, 0)].map(|c| c.member());
    let s = settle(members.iter().map(String::as_str), &ctx(0, 2, None));
    assert_eq!(s.apply, []);
    assert_eq!(s.discard, [chunk(1, 1, 0, 0)]);
}

#[test]
fn the_restored_checkpoint_covers_its_generations_chunks_up_to_it() {
    let members = [
        chunk(4, 6, 1, 1),
        chunk(4, 5, 1, 0),
        chunk(4, 6, 1, 0),
        chunk(4, 7, 1, 0), // staged after the restored checkpoint: never completed
        chunk(3, 5, 1, 0), // another generation: never completed
        chunk(4, 5, 0, 0), // another partition's
        chunk(4, 5, 2, 0), // partition 0's to settle (beyond the parallelism)
    ]
    .map(|c| c.member());
    let s = settle(members.iter().map(String::as_str), &ctx(1, 2, Some((6, 4))));
    assert_eq!(
        s.apply,
        [chunk(4, 5, 1, 0), chunk(4, 6, 1, 0), chunk(4, 6, 1, 1)]
    );
    assert_eq!(s.discard, [chunk(3, 5, 1, 0), chunk(4, 7, 1, 0)]);
}

#[test]
fn partition_zero_settles_partitions_past_the_parallelism() {
    let members = [
        chunk(4, 5, 3, 0),
        chunk(4, 6, 0, 0),
        chunk(4, 5, 1, 0),
        chunk(4, 9, 2, 0),
    ]
    .map(|c| c.member());
    let s = settle(members.iter().map(String::as_str), &ctx(0, 2, Some((6, 4))));
    assert_eq!(s.apply, [chunk(4, 5, 3, 0), chunk(4, 6, 0, 0)]);
    assert_eq!(s.discard, [chunk(4, 9, 2, 0)]);
}
