//! What the core knows about an audited container from outside its profiles: its restarts and how it
//! last ended. The operator fills this from pod status; the core never sees a Kubernetes object.

/// One container of a target and its restart record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerRestarts {
    pub name: String,
    pub restart_count: i32,
    /// The last termination, when the container has terminated before.
    pub last_termination: Option<Termination>,
}

/// How a container last ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Termination {
    pub exit_code: i32,
    pub reason: Option<String>,
    /// The termination message (with `FallbackToLogsOnError`, the tail of the log: a panic).
    pub message: Option<String>,
    /// RFC 3339.
    pub finished_at: Option<String>,
}
