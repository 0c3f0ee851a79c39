//! The process and all its descendants, with their memory, read from procfs without
//! forking (the usual `ps` fork would copy the page tables of a process that may be
//! huge, at the worst moment).
//!
//! The kernel lists each task's children in `/proc/<pid>/task/<tid>/children`, which
//! makes the walk proportional to the tree. Kernels built without that file get a
//! single scan of `/proc/*/stat` instead. Both are bounded in processes and time.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::procfs::{parse_stat, parse_status};
use super::read_bounded;

/// Bounds on the walk. A developer tool's tree is a few dozen processes (shells, language
/// servers, test runners); 512 covers a runaway fork loop without making the dump
/// wait, and 200 ms keeps phase 2 quick even on a loaded machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeLimits {
    pub max_processes: usize,
    pub max_duration: Duration,
}

impl Default for TreeLimits {
    fn default() -> Self {
        TreeLimits {
            max_processes: 512,
            max_duration: Duration::from_millis(200),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct TreeProcess {
    pub pid: u32,
    pub ppid: u32,
    /// The kernel's short command name (`comm`, at most 15 bytes); never arguments.
    pub name: String,
    pub rss_bytes: Option<u64>,
    /// 0 for the root, 1 for its children, ...
    pub depth: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct ProcessTree {
    /// `"children"` (the kernel's per-task lists) or `"scan"` (all of `/proc`).
    #[cfg_attr(test, schemars(extend("enum" = ["children", "scan", "sysinfo"])))]
    pub method: &'static str,
    pub root_pid: u32,
    /// Root first, then breadth-first.
    #[cfg_attr(test, schemars(extend("minItems" = 1)))]
    pub processes: Vec<TreeProcess>,
    pub process_count: usize,
    pub descendant_count: usize,
    pub total_rss_bytes: u64,
    pub descendants_rss_bytes: u64,
    pub largest_descendant: Option<TreeProcess>,
    pub truncated: bool,
    pub truncated_reason: Option<String>,
    /// Processes that exited while being read.
    pub vanished: u32,
}

/// The name a process is shown by. The kernel's `comm` is the executable's name, unless
/// the process renamed itself: Node's `process.title` (and `--title`) sets `comm` to the
/// title, which may hold what a command line holds. Titles are never recorded, as
/// arguments are not: a process running the same executable as the root (a Node
/// process, with a title or not) is shown by its executable's name.
fn shown_name(dir: &Path, comm: String, root_exe: Option<&Path>) -> String {
    let Some(root_exe) = root_exe else {
        return comm;
    };
    match fs::read_link(dir.join("exe")) {
        Ok(exe) if exe == root_exe => exe
            .file_name()
            .map(|n| {
                let mut n = n.to_string_lossy().into_owned();
                // As the kernel cuts `comm`: 15 bytes.
                while n.len() > 15 {
                    n.pop();
                }
                n
            })
            .unwrap_or(comm),
        _ => comm,
    }
}

/// One process's entry, or `None` if it is gone.
fn describe(
    proc_root: &Path,
    pid: u32,
    depth: u32,
    page: u64,
    root_exe: Option<&Path>,
) -> Option<TreeProcess> {
    let dir = proc_root.join(pid.to_string());
    let stat = parse_stat(&read_bounded(&dir.join("stat")).ok()?).ok()?;
    let rss = read_bounded(&dir.join("status"))
        .ok()
        .and_then(|t| parse_status(&t).vm_rss)
        .or_else(|| Some(stat.rss_pages * page));
    Some(TreeProcess {
        pid,
        ppid: stat.ppid,
        name: shown_name(&dir, stat.comm, root_exe),
        rss_bytes: rss,
        depth,
    })
}

/// Children of `pid` from the kernel's per-task lists; `None` if the kernel has none.
fn children_of(proc_root: &Path, pid: u32) -> Option<Vec<u32>> {
    let tasks = fs::read_dir(proc_root.join(pid.to_string()).join("task")).ok()?;
    let mut out = Vec::new();
    let mut any = false;
    for t in tasks.flatten() {
        if let Ok(text) = read_bounded(&t.path().join("children")) {
            any = true;
            out.extend(
                text.split_whitespace()
                    .filter_map(|s| s.parse::<u32>().ok()),
            );
        }
    }
    any.then_some(out)
}

/// `ppid → children` from one pass over `/proc/*/stat`.
fn scan_parents(proc_root: &Path, deadline: Instant) -> HashMap<u32, Vec<u32>> {
    let mut map: HashMap<u32, Vec<u32>> = HashMap::new();
    let Ok(entries) = fs::read_dir(proc_root) else {
        return map;
    };
    for e in entries.flatten() {
        if Instant::now() > deadline {
            break;
        }
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(stat) = read_bounded(&e.path().join("stat"))
            .ok()
            .and_then(|t| parse_stat(&t).ok())
        {
            map.entry(stat.ppid).or_default().push(pid);
        }
    }
    for v in map.values_mut() {
        v.sort_unstable();
    }
    map
}

/// Whether the kernel lists any child of `pid` (its tasks' `children` files); `None` where
/// the kernel keeps no such lists.
pub fn has_children(proc_root: &Path, pid: u32) -> Option<bool> {
    children_of(proc_root, pid).map(|k| !k.is_empty())
}

pub fn read(proc_root: &Path, root_pid: u32, limits: TreeLimits) -> Result<ProcessTree, String> {
    let use_children = children_of(proc_root, root_pid).is_some();
    read_with(proc_root, root_pid, limits, use_children)
}

fn read_with(
    proc_root: &Path,
    root_pid: u32,
    limits: TreeLimits,
    use_children: bool,
) -> Result<ProcessTree, String> {
    let start = Instant::now();
    let deadline = start + limits.max_duration;
    let page = crate::probes::procfs::page_size();
    let root_exe = fs::read_link(proc_root.join(root_pid.to_string()).join("exe")).ok();
    let root_exe = root_exe.as_deref();
    let root = describe(proc_root, root_pid, 0, page, root_exe).ok_or_else(|| {
        format!(
            "{}: process {root_pid} is not readable",
            proc_root.join(root_pid.to_string()).display()
        )
    })?;
    let parents = if use_children {
        HashMap::new()
    } else {
        scan_parents(proc_root, deadline)
    };
    let mut tree = ProcessTree {
        method: if use_children { "children" } else { "scan" },
        root_pid,
        ..Default::default()
    };
    let mut seen = HashSet::from([root_pid]);
    let mut queue = VecDeque::from([(root_pid, 0u32)]);
    tree.processes.push(root);
    'walk: while let Some((pid, depth)) = queue.pop_front() {
        let kids = if use_children {
            children_of(proc_root, pid).unwrap_or_default()
        } else {
            parents.get(&pid).cloned().unwrap_or_default()
        };
        for child in kids {
            if !seen.insert(child) {
                continue; // a cycle or a pid listed twice
            }
            if tree.processes.len() >= limits.max_processes {
                tree.truncated = true;
                tree.truncated_reason =
                    Some(format!("stopped at {} processes", limits.max_processes));
                break 'walk;
            }
            if Instant::now() > deadline {
                tree.truncated = true;
                tree.truncated_reason = Some(format!(
                    "stopped after {} ms",
                    limits.max_duration.as_millis()
                ));
                break 'walk;
            }
            match describe(proc_root, child, depth + 1, page, root_exe) {
                // A pid reused by an unrelated process after the list was read.
                Some(p) if p.ppid == pid => {
                    tree.processes.push(p);
                    queue.push_back((child, depth + 1));
                }
                Some(_) => {}
                None => tree.vanished += 1,
            }
        }
    }
    tree.process_count = tree.processes.len();
    tree.descendant_count = tree.process_count - 1;
    tree.total_rss_bytes = tree.processes.iter().filter_map(|p| p.rss_bytes).sum();
    tree.descendants_rss_bytes = tree
        .processes
        .iter()
        .skip(1)
        .filter_map(|p| p.rss_bytes)
        .sum();
    tree.largest_descendant = tree
        .processes
        .iter()
        .skip(1)
        .max_by_key(|p| p.rss_bytes.unwrap_or(0))
        .cloned();
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn stat_line(pid: u32, comm: &str, ppid: u32, rss_pages: u64) -> String {
        let mut f: Vec<String> = vec!["S".into(), ppid.to_string()];
        for i in 5..=52 {
            f.push(if i == 24 {
                rss_pages.to_string()
            } else {
                "0".into()
            });
        }
        format!("{pid} ({comm}) {}\n", f.join(" "))
    }

    /// pid 100 → 101 ("a (b) c"), 102; 101 → 103. 200 is unrelated.
    fn fixture(tag: &str, with_children: bool) -> PathBuf {
        let root = std::env::temp_dir().join(format!("mdd-tree-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let procs: &[(u32, &str, u32, &[u32])] = &[
            (100, "node", 1, &[101, 102]),
            (101, "a (b) c", 100, &[103]),
            (102, "rg", 100, &[]),
            (103, "sleep", 101, &[]),
            (200, "other", 1, &[]),
        ];
        for (pid, comm, ppid, kids) in procs {
            let d = root.join(pid.to_string());
            fs::create_dir_all(d.join("task").join(pid.to_string())).unwrap();
            fs::write(d.join("stat"), stat_line(*pid, comm, *ppid, 10)).unwrap();
            fs::write(
                d.join("status"),
                format!("Name:\t{comm}\nVmRSS:\t{} kB\n", pid),
            )
            .unwrap();
            if with_children {
                let list: Vec<String> = kids.iter().map(|k| k.to_string()).collect();
                fs::write(
                    d.join("task").join(pid.to_string()).join("children"),
                    list.join(" ") + " ",
                )
                .unwrap();
            }
        }
        root
    }

    #[cfg(unix)]
    #[test]
    fn node_titles_are_never_recorded() {
        // The root and a child run the same executable and renamed themselves (`--title`);
        // the grandchild is another program, shown by its `comm`.
        let root = fixture("titles", true);
        let link = |pid: u32, target: &str| {
            std::os::unix::fs::symlink(target, root.join(pid.to_string()).join("exe")).unwrap()
        };
        fs::write(
            root.join("100").join("stat"),
            stat_line(100, "sk-live-SECRET", 1, 10),
        )
        .unwrap();
        fs::write(
            root.join("101").join("stat"),
            stat_line(101, "tok=SECRET2", 100, 10),
        )
        .unwrap();
        link(100, "/opt/node-v26/bin/node");
        link(101, "/opt/node-v26/bin/node");
        link(103, "/usr/bin/sleep");
        let t = read(&root, 100, TreeLimits::default()).unwrap();
        let names: Vec<(u32, &str)> = t
            .processes
            .iter()
            .map(|p| (p.pid, p.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [(100, "node"), (101, "node"), (102, "rg"), (103, "sleep")]
        );
        assert!(!format!("{t:?}").contains("SECRET"));
        let _ = fs::remove_dir_all(&root);
    }

    fn check_tree(t: &ProcessTree) {
        let pids: Vec<u32> = t.processes.iter().map(|p| p.pid).collect();
        assert_eq!(pids, vec![100, 101, 102, 103]);
        assert_eq!(t.processes[1].name, "a (b) c");
        assert_eq!(t.processes[3].depth, 2);
        assert_eq!(t.processes[3].ppid, 101);
        assert_eq!((t.process_count, t.descendant_count), (4, 3));
        assert_eq!(t.total_rss_bytes, (100 + 101 + 102 + 103) * 1024);
        assert_eq!(t.descendants_rss_bytes, (101 + 102 + 103) * 1024);
        assert_eq!(t.largest_descendant.as_ref().unwrap().pid, 103);
        assert!(!t.truncated);
    }

    #[test]
    fn children_method() {
        let root = fixture("children", true);
        let t = read(&root, 100, TreeLimits::default()).unwrap();
        assert_eq!(t.method, "children");
        check_tree(&t);
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn scan_fallback() {
        let root = fixture("scan", false);
        let t = read(&root, 100, TreeLimits::default()).unwrap();
        assert_eq!(t.method, "scan");
        check_tree(&t);
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn cycles_terminate_and_rss_falls_back_to_stat() {
        let root = fixture("cycle", true);
        // 103 claims 100 as its child.
        fs::write(root.join("103/task/103/children"), "100 ").unwrap();
        fs::remove_file(root.join("102/status")).unwrap();
        let t = read(&root, 100, TreeLimits::default()).unwrap();
        assert_eq!(t.process_count, 4);
        assert_eq!(
            t.processes.iter().find(|p| p.pid == 102).unwrap().rss_bytes,
            Some(10 * crate::probes::procfs::page_size())
        );
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn truncation_and_vanished() {
        let root = fixture("trunc", true);
        let t = read(
            &root,
            100,
            TreeLimits {
                max_processes: 2,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(t.truncated);
        assert_eq!(t.process_count, 2);
        assert_eq!(
            t.truncated_reason.as_deref(),
            Some("stopped at 2 processes")
        );
        fs::remove_dir_all(root.join("102")).unwrap();
        let t = read(&root, 100, TreeLimits::default()).unwrap();
        assert_eq!((t.process_count, t.vanished), (3, 1));
        assert!(read(&root, 999, TreeLimits::default()).is_err());
        fs::remove_dir_all(root).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn live_child_and_grandchild() {
        struct Kill(std::process::Child);
        impl Drop for Kill {
            fn drop(&mut self) {
                // The shell's own child is killed through the process group.
                // SAFETY: `kill` takes plain integers; the group is the test's own child's.
                unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
                let _ = self.0.wait();
            }
        }
        use std::os::unix::process::CommandExt;
        let child = Kill(
            std::process::Command::new("sh")
                .args(["-c", "sleep 30 & wait"])
                .process_group(0)
                .spawn()
                .unwrap(),
        );
        let sh = child.0.id();
        let me = std::process::id();
        let deadline = Instant::now() + Duration::from_secs(5);
        let tree = loop {
            let t = read(Path::new("/proc"), me, TreeLimits::default()).unwrap();
            // The grandchild is named `sh` from its fork until it execs `sleep`.
            if t.processes
                .iter()
                .any(|p| p.ppid == sh && p.name == "sleep")
                || Instant::now() > deadline
            {
                break t;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let shp = tree
            .processes
            .iter()
            .find(|p| p.pid == sh)
            .expect("sh in the tree");
        assert_eq!((shp.ppid, shp.depth), (me, 1));
        let sleeper = tree
            .processes
            .iter()
            .find(|p| p.ppid == sh)
            .expect("grandchild in the tree");
        assert_eq!(sleeper.depth, 2);
        assert_eq!(sleeper.name, "sleep");
        assert!(sleeper.rss_bytes.unwrap() > 0);
        assert!(tree.total_rss_bytes >= tree.processes[0].rss_bytes.unwrap());
        // The scan fallback sees the same tree.
        let scanned = read_with(Path::new("/proc"), me, TreeLimits::default(), false).unwrap();
        assert!(scanned
            .processes
            .iter()
            .any(|p| p.pid == sleeper.pid && p.depth == 2));
        drop(child);
    }
}
