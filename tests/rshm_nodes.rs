//! Several rshm nodes in one test process over loopback TCP, driven through
//! the server API with `MemNode` (a kernel stand-in). Every test binds
//! 127.0.0.1:0, bounds its waits, and stops its nodes by dropping them.

use std::time::Duration;

use sim::abi::{EIDRM, EINVAL};
use sim::rshm::harness::{eventually, mem_cluster, MemNode};
use sim::rshm::PAGE_BYTES;

const MESH: Duration = Duration::from_secs(10);
const SOON: Duration = Duration::from_secs(5);

#[test]
fn three_nodes_share_a_segment() {
    let mut n = mem_cluster(3, MESH).unwrap();
    let id = n[0].get(42, 3 * PAGE_BYTES as u64).unwrap();
    assert_eq!(n[1].get(42, 0).unwrap(), id, "same key, same rshmid");
    assert_eq!(n[2].get(42, 100).unwrap(), id);
    for node in n.iter_mut() {
        node.attach(id).unwrap();
    }
    n[1].write(id, PAGE_BYTES, b"node 2 was here");
    let v = n[1].publish(id).unwrap();
    assert_eq!(v, 1);
    // Contract: visible everywhere once rshm_changed returned.
    for node in &n {
        let c = node.copy(id).unwrap();
        assert_eq!(&c.bytes[PAGE_BYTES..PAGE_BYTES + 15], b"node 2 was here");
        assert_eq!(c.version, 1);
    }
}
