//! Placement against hand-counted expectations: round-robin spreading, reserved slots
//! before shared ones, pools never sharing a slot, and admission errors naming what is
//! missing.

use super::*;

fn node(id: u64, slots: &str) -> FreeNode {
    FreeNode {
        node: NodeId(id),
        listen: SocketAddr::from(([127, 0, 0, 1], 9000 + id as u16)),
        free: slots.parse().unwrap(),
    }
}

fn default_pool(n: u32) -> BTreeMap<Pool, u32> {
    BTreeMap::from([(Pool::Default, n)])
}

/// How many partitions of `pool` run on the node at position `i` of the assignment.
fn on(a: &Assignment, pool: Pool, i: usize) -> usize {
    a.partition_nodes[&pool].iter().filter(|&&n| n == i).count()
}

#[test]
fn spreads_partitions_round_robin() {
    let a = schedule(&default_pool(4), &[node(2, "4"), node(1, "4")]).unwrap();
    assert_eq!(a.nodes[0].0, NodeId(1));
    assert_eq!(a.partition_nodes[&Pool::Default], vec![0, 1, 0, 1]);
}

#[test]
fn respects_free_slots() {
    let a = schedule(&default_pool(4), &[node(1, "1"), node(2, "3")]).unwrap();
    assert_eq!((on(&a, Pool::Default, 0), on(&a, Pool::Default, 1)), (1, 3));
}

#[test]
fn refuses_when_slots_are_short() {
    let e = schedule(
        &default_pool(5),
        &[node(1, "2"), node(2, "2"), node(3, "training=1")],
    )
    .unwrap_err();
    assert_eq!(e.short.len(), 1);
    assert_eq!((e.short[0].needed, e.short[0].shared, e.nodes), (5, 4, 3));
    assert_eq!(
        e.to_string(),
        "the job needs 5 slots (its largest parallelism) but the cluster has 4 free on 3 live \
         node(s): start more nodes (`quiver node --slots N`) or lower the parallelism"
    );
}

#[test]
fn a_pool_takes_only_its_reserved_slots_and_never_another_pools() {
    let needed = BTreeMap::from([(Pool::Serving, 2), (Pool::Training, 3)]);
    let nodes = [node(1, "serving=2"), node(2, "training=3,features=4")];
    let a = schedule(&needed, &nodes).unwrap();
    // Serving on node 1 only, training on node 2 only; the features slots stay free.
    assert_eq!(a.partition_nodes[&Pool::Serving], vec![0, 0]);
    assert_eq!(a.partition_nodes[&Pool::Training], vec![1, 1, 1]);
    assert_eq!(a.slots_on(NodeId(2)), BTreeMap::from([(Pool::Training, 3)]));
}

#[test]
fn reserved_slots_are_taken_before_shared_ones() {
    // Node 1: 2 shared; node 2: 1 shared + 2 reserved for training. Serving (nothing
    // reserved) takes a shared slot on each node; training its 2 reserved slots on node 2,
    // then the shared slot left, on node 1.
    let needed = BTreeMap::from([(Pool::Serving, 2), (Pool::Training, 3)]);
    let nodes = [node(1, "2"), node(2, "1,training=2")];
    let a = schedule(&needed, &nodes).unwrap();
    assert_eq!(a.partition_nodes[&Pool::Serving], vec![0, 1]);
    assert_eq!(a.partition_nodes[&Pool::Training], vec![1, 1, 0]);
}

#[test]
fn two_pools_need_the_sum_of_their_slots() {
    // Pools never share a slot: 2 + 2 partitions do not fit 3 shared slots.
    let needed = BTreeMap::from([(Pool::Default, 2), (Pool::Training, 2)]);
    let e = schedule(&needed, &[node(1, "3")]).unwrap_err();
    assert_eq!(e.short.len(), 2);
    let text = e.to_string();
    assert!(
        text.contains("pool `default` needs 2 slots")
            && text.contains("pool `training` needs 2 slots")
            && text.contains("3 shared slots free on 1 live node(s)"),
        "{text}"
    );
    assert!(schedule(&needed, &[node(1, "4")]).is_ok());
}

#[test]
fn a_missing_pool_is_named_with_the_flag_that_adds_it() {
    let needed = BTreeMap::from([(Pool::Serving, 1), (Pool::Training, 2)]);
    let e = schedule(&needed, &[node(1, "serving=4"), node(2, "features=2")]).unwrap_err();
    assert_eq!(
        e.short,
        vec![Shortfall {
            pool: Pool::Training,
            needed: 2,
            reserved: 0,
            shared: 0,
        }]
    );
    let text = e.to_string();
    assert!(
        text.contains("pool `training` needs 2 slots")
            && text.contains("has 0 reserved for it and 0 shared free on 2 live node(s)")
            && text.contains("`--slots training=2`"),
        "{text}"
    );
}

#[test]
fn slots_used_fill_reserved_slots_first_then_shared_ones() {
    let slots: NodeSlots = "3,serving=2,training=1".parse().unwrap();
    let used = BTreeMap::from([(Pool::Serving, 3), (Pool::Training, 1), (Pool::Default, 1)]);
    // Serving: 2 reserved + 1 shared; training: its 1 reserved; default: 1 shared.
    assert_eq!(free_slots(&slots, &used), NodeSlots::shared(1));
    assert_eq!(free_slots(&slots, &BTreeMap::new()), slots);
}
