//! The slide deck (`cargo xtask slides`) in a real browser: the test builds it, demos recorded
//! from real runs, and opens it in headless Chromium (Debian's package; `.ci/run` installs it)
//! from disk, at 1280×720 and at 1920×1080. The page tests itself (`#selftest`, in
//! `xtask/src/slides/deck.js`): it walks every page with real key events, measures every page
//! for overflow at the window's size, collects console errors, policy violations and resource
//! requests, opens the speaker view and checks it follows, and writes a verdict that
//! `--dump-dom` hands back here. Screenshots and a printed PDF are kept as artefacts in
//! `target/deck-screenshots/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::LeakCheck;

/// Chromium, or Chrome, wherever it is.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/snap/bin")])
        .collect();
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Headless Chromium as the machine notes say to start it here: no sandbox (root), no GPU, no
/// background networking of its own, a fresh profile every time.
fn headless(chrome: &Path, width: u32, height: u32, extra: &[String], url: &str) -> testkit::Run {
    let profile = testkit::Scratch::new("chromium-profile");
    let mut cmd = Command::new(chrome);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.path.display()))
    .arg(format!("--window-size={width},{height}"))
    .args(extra)
    .arg(url);
    testkit::run_cmd_within(&mut cmd, Duration::from_secs(120))
}

/// Runs the page's self-test in a window whose inner size is `width`×`height` and returns its
/// verdict. `--dump-dom`'s window keeps some of its size for itself, so the size asked is
/// corrected by what the page reports.
fn selftest(chrome: &Path, deck: &Path, width: u32, height: u32) -> Value {
    let url = format!("file://{}#selftest", deck.display());
    let extra = [
        "--disable-popup-blocking".to_string(),
        "--virtual-time-budget=20000".to_string(),
        "--dump-dom".to_string(),
    ];
    let (mut w, mut h) = (width, height);
    for _ in 0..3 {
        let run = headless(chrome, w, h, &extra, &url);
        let verdict = verdict(&run.stdout).unwrap_or_else(|| {
            panic!(
                "no self-test verdict in the page (exit {}):\n{}",
                run.code,
                run.stderr
                    .lines()
                    .rev()
                    .take(20)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
        let got = (
            verdict["window"][0].as_u64().unwrap_or(0) as u32,
            verdict["window"][1].as_u64().unwrap_or(0) as u32,
        );
        if got == (width, height) {
            return verdict;
        }
        w = (w + width).saturating_sub(got.0);
        h = (h + height).saturating_sub(got.1);
    }
    panic!("cannot get a {width}x{height} window from chromium --dump-dom");
}

/// The JSON the page wrote into `<pre id="selftest-verdict">`.
fn verdict(dom: &str) -> Option<Value> {
    let start = dom.find("<pre id=\"selftest-verdict\">")? + "<pre id=\"selftest-verdict\">".len();
    let end = start + dom[start..].find("</pre>")?;
    let text = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    serde_json::from_str(&text).ok()
}

/// Checks one verdict; every problem found, not only the first.
fn judge(verdict: &Value, what: &str, problems: &mut Vec<String>) {
    judge_stages(verdict, what, catalog::STAGES.len() as u64, problems)
}

/// [`judge`], for a deck of `stages` stages (a route's).
fn judge_stages(verdict: &Value, what: &str, stages: u64, problems: &mut Vec<String>) {
    let mut fail = |p: String| problems.push(format!("{what}: {p}"));
    if verdict["stages"] != stages {
        fail(format!("the page has {} stages", verdict["stages"]));
    }
    if verdict["slides"] != stages + 2 {
        fail(format!(
            "{} slides, not the {stages} stages plus title and close",
            verdict["slides"]
        ));
    }
    let pages = verdict["pages"].as_u64().unwrap_or(0);
    let visited: Vec<&str> = verdict["visited"]
        .as_array()
        .map(|v| v.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut unique = visited.clone();
    unique.sort();
    unique.dedup();
    if visited.len() as u64 != pages || unique.len() != visited.len() {
        fail(format!(
            "the keys reached {} distinct pages of {pages}",
            unique.len()
        ));
    }
    for n in 0..=stages + 1 {
        if !visited.contains(&n.to_string().as_str()) {
            fail(format!("slide {n} was never reached"));
        }
    }
    for key in ["navigation", "errors", "violations", "requests"] {
        if verdict[key].as_array().map_or(true, |a| !a.is_empty()) {
            fail(format!("{key}: {}", verdict[key]));
        }
    }
    if verdict["overflow"]
        .as_object()
        .map_or(true, |o| !o.is_empty())
    {
        fail(format!("pages overflow: {}", verdict["overflow"]));
    }
    if verdict["speaker"]["in_step"] != true
        || verdict["speaker"]["notes_chars"].as_u64() < Some(100)
    {
        fail(format!(
            "the speaker view did not follow: {}",
            verdict["speaker"]
        ));
    }
}

/// Width and height of a PNG, from its IHDR chunk.
fn png_size(path: &Path) -> Option<(u32, u32)> {
    let bytes = std::fs::read(path).ok()?;
    let word = |at: usize| Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    (bytes.get(1..4) == Some(b"PNG")).then_some((word(16)?, word(20)?))
}

#[test]
fn the_deck_works_offline_in_a_real_browser() {
    // The demos run inside the stages: root, as for every container test.
    if !testkit::require_root() {
        return;
    }
    let Some(chrome) = chromium() else {
        testkit::require(
            false,
            "no Chromium to test the slide deck in: `apt-get install chromium` (.ci/run does)",
        );
        return;
    };
    let _serial = testkit::serial();
    let root = testkit::project_root();
    let out = root.join("target").join("deck-test");
    let shots = root.join("target").join("deck-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).expect("target/deck-screenshots");

    // English, the demos run now; Spanish from the notes alone (the demos are the same).
    let started = Instant::now();
    let leaks = LeakCheck::start();
    let mut decks = Vec::new();
    for (lang, extra) in [("en", None), ("es", Some("--no-run"))] {
        let dir = out.join(lang);
        let mut cmd = Command::new(testkit::xtask_bin());
        cmd.args(["slides", "--lang", lang, "--out"]).arg(&dir);
        cmd.args(extra);
        let run = testkit::run_cmd_within(&mut cmd, Duration::from_secs(900));
        assert_eq!(run.code, 0, "xtask slides --lang {lang}:\n{}", run.stderr);
        decks.push((lang, dir.join("index.html")));
    }
    leaks.assert_clean();
    eprintln!(
        "built the decks in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut problems = Vec::new();
    for (lang, deck) in &decks {
        let html = std::fs::read_to_string(deck).expect("index.html");
        // Nothing in the file could fetch anything, and the policy says so to the browser.
        assert!(
            html.contains("default-src 'none'"),
            "{lang}: no Content-Security-Policy"
        );
        for needle in ["src=", "href=", "url(", "@import", "<link", "<iframe"] {
            if html.contains(needle) {
                problems.push(format!("{lang}: the page contains `{needle}`"));
            }
        }
        if *lang == "en" && !html.contains("demos recorded: ") {
            problems.push("en: the deck does not say when its demos were recorded".into());
        }
        for (w, h) in [(1280, 720), (1920, 1080)] {
            let t = Instant::now();
            let verdict = selftest(&chrome, deck, w, h);
            eprintln!(
                "{lang} {w}x{h}: {} slides, {} pages walked, self-test in {:.1} s",
                verdict["slides"],
                verdict["pages"],
                t.elapsed().as_secs_f64()
            );
            judge(&verdict, &format!("{lang} at {w}x{h}"), &mut problems);
        }
    }

    // Screenshots: every slide's first page at 1280x720; at 1920x1080 a page of each kind.
    let (_, en) = &decks[0];
    let t = Instant::now();
    let mut wanted: Vec<(u32, u32, String)> = (0..catalog::STAGES.len() + 2)
        .map(|n| (1280, 720, n.to_string()))
        .collect();
    for id in ["4.2", "4.3", "4.6", "12", "15"] {
        wanted.push((1920, 1080, id.to_string()));
    }
    wanted.push((1280, 720, "7.3".to_string()));
    for (w, h, id) in &wanted {
        let png = shots.join(format!("{w}x{h}-{}.png", id.replace('.', "_")));
        let run = headless(
            &chrome,
            *w,
            *h,
            &[format!("--screenshot={}", png.display())],
            &format!("file://{}#{id}", en.display()),
        );
        if png_size(&png) != Some((*w, *h)) {
            problems.push(format!(
                "screenshot {}: {:?} (exit {}: {})",
                png.display(),
                png_size(&png),
                run.code,
                run.stderr.lines().last().unwrap_or("")
            ));
        }
    }
    eprintln!(
        "{} screenshots in {} ({:.1} s)",
        wanted.len(),
        shots.display(),
        t.elapsed().as_secs_f64()
    );

    // Print to PDF: one page a slide's page.
    let pdf = shots.join("deck.pdf");
    let run = headless(
        &chrome,
        1280,
        720,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".to_string(),
        ],
        &format!("file://{}", en.display()),
    );
    let html = std::fs::read_to_string(en).expect("index.html");
    let pages = html.matches("<div class=\"page ").count();
    let bytes = std::fs::read(&pdf).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let printed = text.matches("/Type /Page").count() - text.matches("/Type /Pages").count();
    if printed != pages {
        problems.push(format!(
            "the PDF has {printed} pages, the deck {pages} (exit {}: {})",
            run.code,
            run.stderr.lines().last().unwrap_or("")
        ));
    }

    assert!(
        problems.is_empty(),
        "{} problem(s) with the deck:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The 45-minute route's deck (`slides --route talk`): its nine stages, at most 45 pages (demos
/// recorded now, in English; from the notes in Spanish), every page walked without overflow at
/// 1280×720 and 1920×1080, and a speaker view that follows and says where the talk stands
/// against the plan (`base1 · 0:00 of 45:00 · +0:00`), its script above its notes.
#[test]
fn the_talk_routes_deck_fits_45_pages_and_its_speaker_view_keeps_time() {
    if !testkit::require_root() {
        return;
    }
    let Some(chrome) = chromium() else {
        testkit::require(
            false,
            "no Chromium to test the slide deck in: `apt-get install chromium` (.ci/run does)",
        );
        return;
    };
    let _serial = testkit::serial();
    let route = catalog::route("talk").expect("the 45-minute route");
    let stages = route.stops.len() as u64;
    let out = testkit::project_root()
        .join("target")
        .join("deck-route-test");
    let leaks = LeakCheck::start();
    let mut problems = Vec::new();
    for (lang, extra, of) in [("en", None, "of"), ("es", Some("--no-run"), "de")] {
        let dir = out.join(lang);
        let mut cmd = Command::new(testkit::xtask_bin());
        cmd.args(["slides", "--route", "talk", "--lang", lang, "--out"])
            .arg(&dir);
        cmd.args(extra);
        let run = testkit::run_cmd_within(&mut cmd, Duration::from_secs(900));
        assert_eq!(
            run.code, 0,
            "xtask slides --route talk --lang {lang}:\n{}",
            run.stderr
        );
        let deck = dir.join("index.html");
        let html = std::fs::read_to_string(&deck).expect("index.html");
        let pages = html.matches("<div class=\"page ").count();
        if pages > 45 {
            problems.push(format!("{lang}: {pages} pages, over 45"));
        }
        let script = if lang == "en" {
            "<div class=\"script\"><h3>Script</h3>"
        } else {
            "<div class=\"script\"><h3>Guion</h3>"
        };
        if html.matches(script).count() != route.stops.len() {
            problems.push(format!(
                "{lang}: not every stage's notes open with {script}"
            ));
        }
        for (w, h) in [(1280, 720), (1920, 1080)] {
            let verdict = selftest(&chrome, &deck, w, h);
            let what = format!("talk {lang} at {w}x{h}");
            eprintln!(
                "{what}: {} pages, speaker {}",
                verdict["pages"], verdict["speaker"]
            );
            judge_stages(&verdict, &what, stages, &mut problems);
            // The speaker view's clock line, at the page the self-test left it on.
            let standing = verdict["speaker"]["standing"].as_str().unwrap_or("");
            let parts: Vec<&str> = standing.split(" · ").collect();
            let plan_ok = parts.len() == 3
                && route.stops.iter().any(|s| s.stage == parts[0])
                && parts[1].ends_with(&format!(" {of} 45:00"))
                && parts[2].starts_with(['+', '-'])
                && parts[2].contains(':');
            if !plan_ok {
                problems.push(format!(
                    "{what}: the speaker view's timer says {standing:?}"
                ));
            }
        }
    }
    leaks.assert_clean();
    assert!(
        problems.is_empty(),
        "{} problem(s) with the route's deck:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
