//! The rules a configuration object follows whoever writes it: the REST API checks its bodies
//! against them and `import dinky` plans by them, so an imported object is one the API would
//! have accepted.

use alert_core::JobStatus;

/// Longest instance, group or cluster name (in characters).
pub const MAX_NAME_LEN: usize = 100;

/// The statuses a binding alerts on when it names none: the seed product's five.
pub const DEFAULT_STATUSES: [JobStatus; 5] = [
    JobStatus::Failed,
    JobStatus::Canceled,
    JobStatus::Finished,
    JobStatus::Unknown,
    JobStatus::Stopped,
];
