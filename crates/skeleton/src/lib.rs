//! The skeleton every stage shares once a slide has taught it.
//!
//! `base1` teaches running a command, `base2` re-executing this program as its child. From then
//! on the slides use this crate for those parts and keep their own story on one screen: `run`
//! (the parent, with its clone flags) and `child` (the steps inside, in order). What lives here
//! is plumbing no slide teaches:
//!
//! - [`main`]: the `<stage> run [-q] <cmd>` / `<stage> child <cmd>` command line, `--help`,
//!   and the exit status with a one-line error;
//! - [`Spawn`]: what base2's re-exec needs around the call that makes the child (which the
//!   slides make: clone(2) in uts's clone.rs, clone3(2) into a group in cgroups): the pipe
//!   that holds the child until the parent lets it go, its steps at birth and before exec, and
//!   the parent that waits for the container while passing signals on;
//! - for the init, whose duties `pid` teaches (slides/pid/src/init.rs, included by every later
//!   stage): [`take_terminal`], [`block_signals`], [`start_command`] and [`exit_code`];
//! - [`say!`]: the teaching lines, silenced by `--quiet` or `DESDE_CERO_QUIET=1`.
//!
//! Exit status, docker's convention: the command's own; 128+N when it died of signal N; 125
//! when the runtime failed or was called wrongly; 126 when the command cannot be executed; 127
//! when it is not found.

mod cli;
mod error;
mod init;
mod paths;
mod spawn;

pub use cli::*;
pub use error::*;
pub use init::*;
pub use paths::*;
pub use spawn::*;
