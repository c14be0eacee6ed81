//! Routes through the stages: the talks a presenter can give with `cargo xtask present --route
//! NAME` and `cargo xtask slides --route NAME`, each an ordered list of stages with, per stage,
//! the demos shown, the code pages the deck shows and the minutes it is planned to take.
//!
//! How the minutes were planned, per stage of a route: not by a stopwatch on a walk at pace,
//! but from what the stage makes the presenter do, rounded up to whole minutes with room to
//! explain. Its floor, which xtask's tests hold every stage of the talks (not the course) to:
//! its speaker's script (the `## Script` section of its notes, 3–6 lines) spoken at 130 words a
//! minute; one minute for each page of code the deck shows; half a minute for each demo (said,
//! run, its output read out), whose own run time `present --route NAME --rehearse` measures
//! (all under a second here, cgroups' fork bomb 5 s). The course's minutes follow the length of
//! each stage's whole notes. `cargo xtask check` holds every route to the catalog (each stage
//! exists, each demo number is one of its notes' demos) and the READMEs' route tables to this
//! file; the unit tests below hold each talk to its length.

/// One talk: an ordered list of stops.
#[derive(Debug)]
pub struct Route {
    /// As typed after `--route`.
    pub name: &'static str,
    /// What it is, in one line, for `list --routes` and the READMEs' table.
    pub about: &'static str,
    pub about_es: &'static str,
    pub stops: &'static [Stop],
}

/// One stage of a route.
#[derive(Debug)]
pub struct Stop {
    /// The stage's name, as in [`crate::STAGES`].
    pub stage: &'static str,
    /// Its planned minutes, from the moment its title shows to the next stage's.
    pub minutes: u16,
    /// The demos shown, by their place among its notes' demos (1: the first), in order; empty:
    /// every one.
    pub demos: &'static [u8],
    /// How many pages of its diff the deck shows; the rest is named in one line.
    pub code_pages: u8,
}

impl Route {
    /// The route's planned length, in minutes.
    pub fn minutes(&self) -> u16 {
        self.stops.iter().map(|s| s.minutes).sum()
    }

    /// Where each stop starts in the plan, in minutes from the start of the talk.
    pub fn starts(&self) -> Vec<u16> {
        self.stops
            .iter()
            .scan(0, |at, s| {
                let start = *at;
                *at += s.minutes;
                Some(start)
            })
            .collect()
    }
}

const fn stop(stage: &'static str, minutes: u16, demos: &'static [u8], code_pages: u8) -> Stop {
    Stop {
        stage,
        minutes,
        demos,
        code_pages,
    }
}

/// Every demo of the stage, every page of code the deck allows.
const fn all(stage: &'static str, minutes: u16) -> Stop {
    stop(stage, minutes, &[], 5)
}

/// The routes, the shortest first.
pub const ROUTES: &[Route] = &[
    Route {
        name: "original",
        about: "the Go talk's slides, base1 to cgroups: a container in about 30 minutes",
        about_es: "las diapositivas de la charla en Go, de base1 a cgroups: un contenedor en \
                   unos 30 minutos",
        stops: &[
            stop("base1", 3, &[1, 2], 1),
            stop("base2", 4, &[1, 2], 1),
            stop("uts", 4, &[1, 3], 1),
            stop("pid", 5, &[1, 3], 2),
            stop("chroot", 4, &[2, 4], 1),
            stop("procfs", 4, &[1, 4], 1),
            stop("cgroups", 6, &[1, 2, 4], 2),
        ],
    },
    // The original talk ends with a container whose root is escaped in one call (chroot is no
    // boundary for root): a container engineer's first fix is pivot_root with a read-only
    // /proc/sys and /sys, and what then is left to add is what `full` shows at once, as a
    // runtime runs it (capabilities, no_new_privs, seccomp, overlay, cgroup namespace). ipc,
    // net and user are one more namespace each: told in a sentence at `full`, not shown.
    Route {
        name: "talk",
        about: "the 45-minute talk: the original, then pivot_root (the escape stopped) and full",
        about_es: "la charla de 45 minutos: la original, luego pivot_root (la fuga detenida) y \
                   full",
        stops: &[
            stop("base1", 2, &[1], 1),
            stop("base2", 3, &[1, 2], 1),
            stop("uts", 3, &[1, 3], 1),
            stop("pid", 5, &[1, 3], 2),
            stop("chroot", 3, &[2], 1),
            stop("procfs", 3, &[1], 1),
            stop("cgroups", 6, &[2, 4], 2),
            stop("pivot", 10, &[1, 2, 3, 4], 2),
            stop("full", 10, &[1, 2, 6, 7, 9, 12], 2),
        ],
    },
    // Each stage from pivot on stops an attack shown working in the stage before: what
    // docker does to a process and why, in the order a runtime does it.
    Route {
        name: "hardening",
        about: "what docker does to a process, attack by attack: pivot_root to full",
        about_es: "lo que docker le hace a un proceso, ataque por ataque: de pivot_root a full",
        stops: &[
            stop("pivot", 9, &[1, 2, 3, 4, 6], 2),
            stop("capabilities", 9, &[], 2),
            stop("seccomp", 10, &[], 2),
            stop("console", 6, &[], 2),
            stop("full", 8, &[1, 2, 3, 9, 12], 2),
        ],
    },
    Route {
        name: "course",
        about: "every stage, every demo: the whole course, about two hours",
        about_es: "cada etapa, cada demo: el curso entero, unas dos horas",
        stops: &[
            all("base1", 4),
            all("base2", 5),
            all("uts", 4),
            all("pid", 8),
            all("chroot", 6),
            all("procfs", 6),
            all("cgroups", 10),
            all("ipc", 4),
            all("net", 12),
            all("user", 9),
            all("pivot", 11),
            all("capabilities", 10),
            all("seccomp", 12),
            all("console", 9),
            all("full", 15),
        ],
    },
];

/// The route called `name`.
pub fn route(name: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.name == name.trim())
}

/// The plan of one stage when no route gives one (`--stages uts,pid`): the course's stop.
pub fn course_stop(stage: &str) -> Option<&'static Stop> {
    route("course")?.stops.iter().find(|s| s.stage == stage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stop_is_a_stage_in_talk_order_once() {
        for route in ROUTES {
            let numbers: Vec<u8> = route
                .stops
                .iter()
                .map(|s| {
                    let stage = crate::STAGES.iter().find(|st| st.name == s.stage);
                    stage
                        .unwrap_or_else(|| panic!("{}: {}", route.name, s.stage))
                        .number()
                })
                .collect();
            assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{}", route.name);
            assert!(route
                .stops
                .iter()
                .all(|s| s.minutes > 0 && s.code_pages > 0));
            for s in route.stops {
                let mut demos = s.demos.to_vec();
                demos.sort();
                demos.dedup();
                assert_eq!(demos.len(), s.demos.len(), "{}: {}", route.name, s.stage);
                assert!(
                    !demos.contains(&0),
                    "{}: {}: demos count from 1",
                    route.name,
                    s.stage
                );
            }
        }
    }

    #[test]
    fn each_talk_has_its_length() {
        assert_eq!(route("original").unwrap().minutes(), 30);
        assert_eq!(route("talk").unwrap().minutes(), 45);
        assert!((40..=45).contains(&route("hardening").unwrap().minutes()));
        let course = route("course").unwrap();
        assert_eq!(course.stops.len(), crate::STAGES.len());
        assert_eq!(route("talk").unwrap().starts()[1], 2);
    }

    #[test]
    fn the_original_is_the_go_talks_stages() {
        let original: Vec<&str> = route("original")
            .unwrap()
            .stops
            .iter()
            .map(|s| s.stage)
            .collect();
        let go: Vec<&str> = crate::STAGES
            .iter()
            .filter(|s| s.go_lines.is_some())
            .map(|s| s.name)
            .collect();
        assert_eq!(original, go);
    }
}
