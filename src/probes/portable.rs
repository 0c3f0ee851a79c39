//! Process figures from sysinfo, for platforms without procfs (macOS, Windows). On
//! Linux the procfs probes are more precise and this module is used only by its tests.

use serde::Serialize;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// What sysinfo knows about one process. Names only: sysinfo is asked for no command
/// lines and no environments.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortableProcess {
    pub pid: u32,
    pub ppid: Option<u32>,
    pub name: String,
    pub rss_bytes: u64,
    pub virtual_bytes: u64,
    pub depth: u32,
}

/// The process and its descendants, root first, breadth-first, at most `max`.
pub fn read_tree(root_pid: u32, max: usize) -> Result<Vec<PortableProcess>, String> {
    let mut sys = System::new();
    sys.refresh_processes_specifics(
        ProcessesToUpdate::All,
        true,
        ProcessRefreshKind::nothing().with_memory(),
    );
    let procs = sys.processes();
    let root = procs
        .get(&Pid::from_u32(root_pid))
        .ok_or_else(|| format!("process {root_pid} not found by sysinfo"))?;
    let entry = |p: &sysinfo::Process, depth: u32| PortableProcess {
        pid: p.pid().as_u32(),
        ppid: p.parent().map(|pp| pp.as_u32()),
        name: p.name().to_string_lossy().chars().take(64).collect(),
        rss_bytes: p.memory(),
        virtual_bytes: p.virtual_memory(),
        depth,
    };
    let mut out = vec![entry(root, 0)];
    let mut i = 0;
    while i < out.len() && out.len() < max {
        let (parent, depth) = (out[i].pid, out[i].depth);
        let mut children: Vec<_> = procs
            .values()
            .filter(|p| {
                p.parent().map(|pp| pp.as_u32()) == Some(parent) && p.thread_kind().is_none()
            })
            .filter(|p| !out.iter().any(|o| o.pid == p.pid().as_u32()))
            .collect();
        children.sort_by_key(|p| p.pid());
        for c in children.into_iter().take(max - out.len()) {
            out.push(entry(c, depth + 1));
        }
        i += 1;
    }
    Ok(out)
}

#[cfg(all(test, unix))]
mod tests {
    #[test]
    fn finds_this_process_and_a_child() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let tree = super::read_tree(std::process::id(), 512);
        let _ = child.kill();
        let _ = child.wait();
        let tree = tree.unwrap();
        assert_eq!(tree[0].pid, std::process::id());
        assert!(tree[0].rss_bytes > 0);
        let c = tree
            .iter()
            .find(|p| p.pid == child.id())
            .expect("child in tree");
        assert_eq!(c.ppid, Some(std::process::id()));
        assert_eq!(c.depth, 1);
        assert!(super::read_tree(u32::MAX - 1, 10).is_err());
    }
}
