//! Cargo: the workspace's identity and members, its lockfile, vendoring, and the build itself
//! with artifact collection from cargo's JSON messages.

pub mod invoke;
pub mod lockfile;
pub mod workspace;

pub use invoke::{build, build_args, vendor, Artifact, ArtifactLayout, BuildParams, CargoBuild, VendorConfig};
pub use lockfile::{LockedPackage, Lockfile};
pub use workspace::{Component, ComponentOrigin, Workspace};
