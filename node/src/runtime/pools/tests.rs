//! An actor spawned through [`PoolThreads::run`] handles its messages on its pool's threads:
//! named after the pool, at the lowest priority for `training`, at the process's own for the
//! others, and on the caller's runtime for the default pool.

use super::*;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

/// Replies with the name and nice value of the thread that handles each message.
struct WhereAmI;

/// A thread's name and nice value.
type Seen = (Option<String>, i32);

impl Actor for WhereAmI {
    type Msg = RpcReplyPort<Seen>;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<Self::Msg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        reply: Self::Msg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let _ = reply.send(this_thread());
        Ok(())
    }
}

fn this_thread() -> Seen {
    let tid = rustix::thread::gettid();
    let nice = rustix::process::getpriority_process(Some(tid)).expect("getpriority");
    (std::thread::current().name().map(str::to_string), nice)
}

/// Where an actor spawned through `pools` for `pool` handles a message.
async fn seen_by_actor_of(pools: &PoolThreads, pool: Pool) -> Seen {
    let (actor, _) = pools
        .run(pool, Actor::spawn(None, WhereAmI, ()))
        .await
        .expect("the pool's runtime starts")
        .expect("the actor starts");
    let seen = ractor::call!(actor, |reply| reply).expect("the actor answers");
    actor.stop(None);
    seen
}

#[test]
fn each_pool_runs_its_actors_on_its_own_threads() {
    let main = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("node-main")
        .enable_all()
        .build()
        .unwrap();
    main.block_on(async {
        let pools = PoolThreads::default();
        let own = this_thread().1;
        let (name, nice) = seen_by_actor_of(&pools, Pool::Training).await;
        assert_eq!(name.as_deref(), Some("quiver-training"));
        assert_eq!(
            nice, LOW_PRIORITY_NICE,
            "training threads run at the lowest priority"
        );
        let (name, nice) = seen_by_actor_of(&pools, Pool::Serving).await;
        assert_eq!(name.as_deref(), Some("quiver-serving"));
        assert_eq!(nice, own, "serving threads keep the process's priority");
        let (name, nice) = seen_by_actor_of(&pools, Pool::Default).await;
        assert_eq!(name.as_deref(), Some("node-main"));
        assert_eq!(nice, own);
        // A second task of a pool reuses its runtime.
        let (name, _) = seen_by_actor_of(&pools, Pool::Training).await;
        assert_eq!(name.as_deref(), Some("quiver-training"));
        assert_eq!(pools.runtimes.lock().unwrap().len(), 2);
        // Dropped inside a runtime, the pools shut down without panicking.
        drop(pools);
    });
}
