//! What a `recommend` partition knows about items: which items co-occur in users' recent
//! histories (Swing-style weights, each item keeping its strongest neighbours) and how
//! popular each item is lately (counts that decay with the partition's events).

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Events over which a popularity count falls to 1/e of its weight.
const POPULARITY_HORIZON: f64 = 10_000.0;
/// Events between two refreshes of the popular-items list.
const POPULAR_REFRESH: u64 = 1_000;
/// Growth factor beyond which every count is rescaled (keeps the decay trick finite).
const RESCALE_AT: f64 = 1e100;

/// Co-occurrence and popularity of items, per partition.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct ItemGraph {
    /// Per item, its strongest co-occurring items and their weights (unordered, at most
    /// `capacity`).
    neighbours: HashMap<u64, Vec<(u64, f64)>>,
    /// Per item, its popularity scaled by `growth` (a decayed count).
    popularity: HashMap<u64, f64>,
    /// `exp(events / POPULARITY_HORIZON)` since the last rescale: adding `growth` instead of
    /// 1 and never touching old counts makes every count decay at once.
    growth: f64,
    /// Events learnt.
    events: u64,
    /// The most popular items, best first, as of the last refresh.
    popular: Vec<u64>,
}

impl ItemGraph {
    /// Learns that a user whose recent items are `recent` (oldest first) interacted with
    /// `item`: the pairs it forms are each weighted `1 / (1 + len)`, so a user with a long
    /// history ties items together less than one with a short one (Swing's user weight), and
    /// each item keeps its `capacity` strongest neighbours.
    pub(super) fn learn(&mut self, recent: &[u64], item: u64, capacity: usize, popular: usize) {
        let weight = 1.0 / (1.0 + recent.len() as f64);
        for &other in recent.iter().filter(|&&other| other != item) {
            self.link(other, item, weight, capacity);
            self.link(item, other, weight, capacity);
        }
        self.count(item, popular);
    }

    /// Adds `weight` to the edge `from → to`; a new edge takes the place of the weakest one
    /// when `from` has `capacity` already and the weakest is weaker.
    fn link(&mut self, from: u64, to: u64, weight: f64, capacity: usize) {
        let edges = self.neighbours.entry(from).or_default();
        if let Some(edge) = edges.iter_mut().find(|(item, _)| *item == to) {
            edge.1 += weight;
        } else if edges.len() < capacity {
            edges.push((to, weight));
        } else if let Some(weakest) = edges
            .iter_mut()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .filter(|(_, w)| *w < weight)
        {
            *weakest = (to, weight);
        }
    }

    /// Counts one event of `item`, refreshing the `popular` best items now and then.
    fn count(&mut self, item: u64, popular: usize) {
        self.events += 1;
        if self.growth == 0.0 {
            self.growth = 1.0;
        }
        self.growth *= (1.0 / POPULARITY_HORIZON).exp();
        *self.popularity.entry(item).or_default() += self.growth;
        if self.growth > RESCALE_AT {
            let scale = self.growth;
            self.popularity.values_mut().for_each(|p| *p /= scale);
            self.popularity.retain(|_, p| *p > 1e-12);
            self.growth = 1.0;
        }
        if self.events % POPULAR_REFRESH == 1 || self.popular.len() < popular {
            self.refresh_popular(popular);
        }
    }

    /// Recomputes the `n` most popular items (ties: the lower id first).
    fn refresh_popular(&mut self, n: usize) {
        let mut ranked: Vec<(u64, f64)> = self.popularity.iter().map(|(&i, &p)| (i, p)).collect();
        ranked.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        self.popular = ranked.into_iter().take(n).map(|(item, _)| item).collect();
    }

    /// The candidates for a user whose recent items are `recent` (oldest first): every
    /// neighbour of a recent item, scored by the edge weights times the recent item's
    /// recency (halved per step back), then popular items (a score below any neighbour's),
    /// leaving out `recent`; at most `n`, best first (ties: the lower id first).
    /// `scratch` is reused between calls (its contents do not matter).
    pub(super) fn candidates(
        &self,
        recent: &[u64],
        n: usize,
        scratch: &mut FxHashMap<u64, f64>,
    ) -> Vec<(u64, f64)> {
        scratch.clear();
        let mut recency = 1.0;
        for seed in recent.iter().rev() {
            for &(item, weight) in self.neighbours.get(seed).into_iter().flatten() {
                *scratch.entry(item).or_default() += weight * recency;
            }
            recency *= 0.5;
        }
        let mut ranked: Vec<(u64, f64)> = scratch
            .iter()
            .filter(|(item, _)| !recent.contains(item))
            .map(|(&item, &score)| (item, score))
            .collect();
        let best_first = |a: &(u64, f64), b: &(u64, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if ranked.len() > n && n > 0 {
            ranked.select_nth_unstable_by(n - 1, best_first);
        }
        ranked.truncate(n);
        ranked.sort_unstable_by(best_first);
        let top = self
            .popular
            .first()
            .and_then(|i| self.popularity.get(i))
            .copied();
        for &item in &self.popular {
            if ranked.len() >= n {
                break;
            }
            if recent.contains(&item) || ranked.iter().any(|(i, _)| *i == item) {
                continue;
            }
            // Below any neighbour's score: 1e-9 of the most popular item's share.
            let share = self.popularity.get(&item).copied().unwrap_or(0.0) / top.unwrap_or(1.0);
            ranked.push((item, 1e-9 * share));
        }
        ranked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_seen_together_become_candidates_in_order_of_weight() {
        let mut graph = ItemGraph::default();
        // Two users saw 1 then 2; one saw 1 then 3.
        graph.learn(&[], 1, 10, 5);
        graph.learn(&[1], 2, 10, 5);
        graph.learn(&[], 1, 10, 5);
        graph.learn(&[1], 2, 10, 5);
        graph.learn(&[], 1, 10, 5);
        graph.learn(&[1], 3, 10, 5);
        // Weights 1/2 per pair: 1→2 is 1.0, 1→3 is 0.5.
        let candidates = graph.candidates(&[1], 10, &mut FxHashMap::default());
        assert_eq!(candidates[0], (2, 1.0));
        assert_eq!(candidates[1], (3, 0.5));
        assert!(
            candidates.iter().all(|(item, _)| *item != 1),
            "a seen item is left out"
        );
    }

    #[test]
    fn popular_items_fill_the_list_below_every_neighbour() {
        let mut graph = ItemGraph::default();
        for _ in 0..5 {
            graph.learn(&[], 9, 10, 5);
        }
        graph.learn(&[], 4, 10, 5);
        graph.learn(&[4], 7, 10, 5);
        let candidates = graph.candidates(&[4], 10, &mut FxHashMap::default());
        let items: Vec<u64> = candidates.iter().map(|(i, _)| *i).collect();
        assert_eq!(items, vec![7, 9]);
        assert!(candidates[1].1 < candidates[0].1);
    }

    #[test]
    fn a_full_item_keeps_its_strongest_neighbours() {
        let mut graph = ItemGraph::default();
        graph.link(1, 2, 0.5, 2);
        graph.link(1, 3, 0.25, 2);
        graph.link(1, 4, 0.1, 2); // weaker than both: dropped
        graph.link(1, 5, 0.3, 2); // replaces 3
        let mut kept = graph.neighbours[&1].clone();
        kept.sort_by_key(|(item, _)| *item);
        assert_eq!(kept, vec![(2, 0.5), (5, 0.3)]);
    }

    #[test]
    fn recent_popularity_outweighs_old() {
        let mut graph = ItemGraph::default();
        for _ in 0..100 {
            graph.count(1, 2);
        }
        // 100 events of item 1, then 100,000 events later 95 of item 2.
        graph.growth *= (100_000.0 / POPULARITY_HORIZON).exp();
        for _ in 0..95 {
            graph.count(2, 2);
        }
        graph.refresh_popular(2);
        assert_eq!(graph.popular, vec![2, 1]);
    }
}
