//! Newtypes for the identifiers that travel between processes. Each wraps an integer, so one
//! can never be passed where another is meant.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($inner:ty), $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl $name {
            /// Parses the id as it is printed (`job-3`), or its bare number (`3`).
            pub fn parse(text: &str) -> Option<$name> {
                text.strip_prefix($prefix).unwrap_or(text).parse().ok().map($name)
            }
        }
    };
}

id_type!(
    /// A cluster node, assigned by the coordinator at registration.
    NodeId(u64), "node-"
);
id_type!(
    /// A submitted job, unique for the coordinator's life (and its data directory).
    JobId(u64), "job-"
);
id_type!(
    /// An operator (source, stage or sink) of a job graph: its index in the plan.
    OperatorId(u32), "op-"
);
id_type!(
    /// One parallel instance of an operator: 0..parallelism.
    PartitionId(u32), "p"
);
id_type!(
    /// A key group: keys hash into `max_parallelism` groups; state is stored per group.
    KeyGroup(u32), "kg"
);
id_type!(
    /// A checkpoint of one job, increasing from 1.
    CheckpointId(u64), "chk-"
);
id_type!(
    /// A job's deployment epoch: bumped at every recovery; messages of older ones are refused.
    Generation(u64), "gen-"
);

impl Generation {
    /// The generation that follows this one.
    pub fn next(self) -> Generation {
        Generation(self.0 + 1)
    }
}
