//! The component a recorded run used, found again: the copy kept in the run
//! directory first, the recorded path otherwise; one whose SHA-256 is not the
//! recorded one is refused, since replaying other bytes would prove nothing.
//! Reading `run.json` itself is [`crate::run::record`]'s. This module does
//! not run anything.

use crate::component::{self, PlanComponent};
use crate::error::InputError;
use crate::run::record::{COMPONENT_COPY, RecordedComponent, RecordedRun};
use std::path::{Path, PathBuf};

/// Where a component was found for a replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ComponentSource {
    /// The copy kept in the run directory.
    Copy(PathBuf),
    /// The path the run recorded (no copy was kept).
    RecordedPath(PathBuf),
}

impl ComponentSource {
    /// The file.
    pub fn path(&self) -> &Path {
        match self {
            ComponentSource::Copy(p) | ComponentSource::RecordedPath(p) => p,
        }
    }
}

/// Loads the component `recorded` ran, preferring the copy in `dir`, and
/// refuses it if its SHA-256 differs from the recorded one.
pub fn component(dir: &Path, recorded: &RecordedRun) -> Result<(PlanComponent, ComponentSource), InputError> {
    let copy = dir.join(recorded.component_copy.as_deref().unwrap_or(COMPONENT_COPY));
    let source = if copy.is_file() {
        ComponentSource::Copy(copy)
    } else if recorded.component_path.is_file() {
        ComponentSource::RecordedPath(recorded.component_path.clone())
    } else {
        return Err(InputError::new(format!(
            "cannot replay {}: it holds no {COMPONENT_COPY} and the recorded plan {} does not exist",
            dir.display(),
            recorded.component_path.display()
        )));
    };
    let component = component::load(source.path())?;
    if component.sha256 != recorded.component_sha256 {
        return Err(InputError::new(format!(
            "refusing to replay {}: {} has sha256 {}, but the run recorded {}; the plan changed since the run",
            dir.display(),
            source.path().display(),
            short(&component.sha256),
            short(&recorded.component_sha256),
        )));
    }
    Ok((component, source))
}

/// Loads each group's own component as `recorded` names it, preferring its
/// copy in `dir`, refusing one whose SHA-256 differs; `None` for groups that
/// ran the run's own component.
pub fn group_components(dir: &Path, recorded: &RecordedRun) -> Result<Vec<Option<PlanComponent>>, InputError> {
    let load = |group: &str, own: &RecordedComponent| -> Result<PlanComponent, InputError> {
        let copy = dir.join(&own.copy);
        let path = if copy.is_file() {
            copy
        } else if own.path.is_file() {
            own.path.clone()
        } else {
            return Err(InputError::new(format!(
                "cannot replay {}: group {group:?}'s component is neither in {} nor at {}",
                dir.display(),
                own.copy,
                own.path.display()
            )));
        };
        let component = component::load(&path)?;
        if component.sha256 != own.sha256 {
            return Err(InputError::new(format!(
                "refusing to replay {}: group {group:?}'s component {} has sha256 {}, but the run recorded {}; \
                 it changed since the run",
                dir.display(),
                path.display(),
                short(&component.sha256),
                short(&own.sha256),
            )));
        }
        Ok(component)
    };
    recorded.groups.iter().map(|g| g.component.as_ref().map(|own| load(&g.id, own)).transpose()).collect()
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(16)]
}
