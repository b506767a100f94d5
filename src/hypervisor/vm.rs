//! VM groups: what runs in which VM, from the command line or a scenario
//! file, as one `Scenario` that `Simulator::load_scenario` loads.
//!
//! A VM is one `Kernel` with its own processes, pids, scheduler and id;
//! contexts of VM `v` use TLB context ids `(v << 32) | pid`. Within a VM,
//! each `-k KERNEL` starts a guest kernel under the innermost kernel so far
//! (the first one under the host), and each `-u PROG` loads a program under
//! the innermost kernel (the host if there is none):
//!
//! ```text
//! sim -u a.c --vm -k rr.c -u b.c --vm -u c.c
//!   vm 0: host ─ a.c
//!   vm 1: host ─ rr.c (kernel mode) ─ b.c
//!   vm 2: host ─ c.c
//! sim -k k1.c -k k2.c -u prog.c        (nesting, depth 2)
//!   vm 0: host ─ k1.c ─ k2.c ─ prog.c
//! ```
//!
//! A scenario file says the same, one line each (`#` starts a comment):
//!
//! ```text
//! user   programs/hello.c          # = -u programs/hello.c
//! vm                               # = --vm: the next VM starts
//! kernel programs/kernels/rr.c     # = -k programs/kernels/rr.c
//! user   programs/echo.c one two
//! ```

use std::fmt;
use std::path::Path;

/// The largest scenario file `sim` reads (a scenario is a few lines).
pub const MAX_SCENARIO_FILE: u64 = 1 << 20;

/// One context to load: a program and its arguments (`args[0]` is the
/// program file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextSpec {
    /// Kernel mode (`-k`): later contexts of the VM go under it.
    pub kernel: bool,
    pub args: Vec<String>,
}

/// The contexts of one VM, in load order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct VmSpec {
    pub contexts: Vec<ContextSpec>,
}

/// What runs in which VM.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Scenario {
    pub vms: Vec<VmSpec>,
}

/// One `-u`, `-k` or `--vm` of a command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// `-u PROG ARGS...`
    User(Vec<String>),
    /// `-k KERNEL ARGS...`
    Kernel(Vec<String>),
    /// `--vm`: the next VM starts.
    NextVm,
}

/// A line of a scenario file that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl Scenario {
    /// The scenario of a command line's `-u PROG ARGS...`, `-k KERNEL
    /// ARGS...` and `--vm`, in the order they were given (the CLI reads
    /// them with clap and hands them over as `Item`s).
    pub fn from_items<I: IntoIterator<Item = Item>>(items: I) -> Scenario {
        let mut scenario = Scenario {
            vms: vec![VmSpec::default()],
        };
        for item in items {
            match item {
                Item::NextVm => scenario.vms.push(VmSpec::default()),
                Item::User(args) | Item::Kernel(args) if args.is_empty() => {}
                Item::User(args) => scenario.push(ContextSpec {
                    kernel: false,
                    args,
                }),
                Item::Kernel(args) => scenario.push(ContextSpec { kernel: true, args }),
            }
        }
        scenario.prune();
        scenario
    }

    /// Adds a context to the last VM.
    fn push(&mut self, context: ContextSpec) {
        if let Some(vm) = self.vms.last_mut() {
            vm.contexts.push(context);
        }
    }

    /// Parses a scenario file's text (see the module doc).
    ///
    /// # Errors
    /// The first line that is neither empty, a comment, `vm`, `user PROG
    /// [ARGS]` nor `kernel PROG [ARGS]`.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let mut items = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace().map(str::to_string);
            let Some(keyword) = words.next() else {
                continue;
            };
            let error = |message: String| ScenarioError {
                line: i + 1,
                message,
            };
            match keyword.as_str() {
                "vm" => {
                    if let Some(extra) = words.next() {
                        return Err(error(format!("'vm' takes no arguments, found '{extra}'")));
                    }
                    items.push(Item::NextVm);
                }
                "user" | "kernel" => {
                    let args: Vec<String> = words.collect();
                    if args.is_empty() {
                        return Err(error(format!("'{keyword}' needs a program file")));
                    }
                    items.push(if keyword == "kernel" {
                        Item::Kernel(args)
                    } else {
                        Item::User(args)
                    });
                }
                other => {
                    return Err(error(format!(
                        "expected 'vm', 'user PROG [ARGS]' or 'kernel PROG [ARGS]', found '{other}'"
                    )))
                }
            }
        }
        Ok(Scenario::from_items(items))
    }

    /// Reads and parses a scenario file.
    ///
    /// # Errors
    /// A message naming the file and the line.
    pub fn read(path: &Path) -> Result<Scenario, String> {
        // Read at most MAX_SCENARIO_FILE bytes: `--scenario /dev/zero`
        // must be an error, not all of the host's memory.
        use std::io::Read;
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_SCENARIO_FILE + 1).read_to_end(&mut bytes))
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        if bytes.len() as u64 > MAX_SCENARIO_FILE {
            return Err(format!(
                "{}: cannot read: larger than {} MiB, the most sim reads of a scenario",
                path.display(),
                MAX_SCENARIO_FILE >> 20
            ));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("{}: cannot read: not UTF-8 text", path.display()))?;
        Scenario::parse(&text).map_err(|e| format!("{}:{e}", path.display()))
    }

    /// Whether there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.vms.iter().all(|v| v.contexts.is_empty())
    }

    /// Drops contexts without a program (`-u` at the end of the line) and
    /// VMs without contexts other than the first.
    fn prune(&mut self) {
        for vm in &mut self.vms {
            vm.contexts.retain(|c| !c.args.is_empty());
        }
        let mut first = true;
        self.vms
            .retain(|v| std::mem::take(&mut first) || !v.contexts.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn spec(kernel: bool, line: &str) -> ContextSpec {
        ContextSpec {
            kernel,
            args: args(line),
        }
    }

    #[test]
    fn a_scenario_file_says_what_the_command_line_says() {
        let text = "# two VMs\nuser a.c x y\nvm\nkernel rr.c   # guest kernel\nuser b.c\n";
        let s = Scenario::parse(text).unwrap();
        assert_eq!(
            s,
            Scenario::from_items([
                Item::User(args("a.c x y")),
                Item::NextVm,
                Item::Kernel(args("rr.c")),
                Item::User(args("b.c")),
            ])
        );
        assert_eq!(
            s.vms,
            vec![
                VmSpec {
                    contexts: vec![spec(false, "a.c x y")]
                },
                VmSpec {
                    contexts: vec![spec(true, "rr.c"), spec(false, "b.c")]
                },
            ]
        );
        let e = Scenario::parse("user a.c\nprocess b.c\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("found 'process'"), "{e}");
        assert!(Scenario::parse("kernel\n").is_err());
    }
}
