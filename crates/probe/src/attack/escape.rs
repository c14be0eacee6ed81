//! `escape`: the double-chroot escape (`crate::escape`) reaches the host's root directory.

use std::path::Path;

use super::Outcome;

pub fn attempt(marker: Option<&Path>) -> Outcome {
    let outcome = crate::escape::attempt(marker);
    if outcome.marker_visible_before == Some(true) {
        return Outcome::through("the host's root is / already: its marker is visible");
    }
    match (outcome.escaped, outcome.error) {
        (_, Some(why)) => Outcome::held(why),
        (true, None) if marker.is_some() => {
            Outcome::through("chroot into a folder, chdir .. to the top: the host's marker")
        }
        (true, None) => Outcome::through("chroot into a folder, chdir .. to the top: another /"),
        (false, None) => Outcome::held("climbed to the top of its mount namespace: its own /"),
    }
}
