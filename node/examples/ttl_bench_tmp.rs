use quiver_node::operator::Output;
use quiver_node::operators::{build_stage, StageContext};
use quiver_protocol::spec::JobSpec;
use quiver_protocol::{Record, Value};
use std::time::{Duration, Instant};

fn main() {
    let text = "[job]\nname = \"t\"\n\n[[source]]\nname = \"events\"\nkind = \"generator\"\nkeys = 100000\n\n[[stage]]\nname = \"s\"\nkind = \"aggregate\"\ninput = \"events\"\nkey = [\"user\"]\naggregates = { n = \"count()\", spend = \"sum(amount)\" }\n\n[[sink]]\nname = \"out\"\nkind = \"discard\"\ninput = \"s\"\n";
    let spec = JobSpec::parse(text, std::path::Path::new("/tmp")).unwrap();
    let src = &spec.sources[0];
    let mut x: u64 = 7;
    let batches: Vec<Vec<Record>> = (0..2000).map(|_| (0..1000).map(|i| { x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); Record { event_time: i, row: vec![Value::I64(((x >> 33) % 100000) as i64), Value::F64(1.5), Value::I64(i)] } }).collect()).collect();
    for ttl in [None, Some(Duration::from_secs(3600)), None, Some(Duration::from_secs(3600))] {
        let ctx = StageContext { max_parallelism: 128, state_ttl: ttl };
        let mut op = build_stage(&spec.stages[0], &src.schema, &ctx).unwrap();
        let t = Instant::now();
        let mut n = 0;
        for b in &batches { let mut out = Output::default(); op.process_batch(b.clone(), &mut out).unwrap(); n += out.records.len(); }
        let e = t.elapsed();
        println!("ttl {:?}: {} rec in {:?} = {:.2} M/s (clone incl.)", ttl, n, e, n as f64 / e.as_secs_f64() / 1e6);
    }
}
