//! `cargo xtask bench --write-docs`: one run, written where people read it: the speed table of
//! README.md and of README.es.md, and the whole report (with `--profile full`'s per-step costs)
//! as the latest run in docs/bench.md. Each file is rewritten only between its markers
//! ([`BEGIN`], [`END`]), so the three always show the same run and the prose around them stays.
//! `DESDE_CERO_DOCS_ROOT=DIR` writes the copies in DIR instead (the bench's test does).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::report::Report;
use crate::present::lang::Lang;
use crate::{cli, util};

pub const BEGIN: &str = "<!-- bench:begin -->";
pub const END: &str = "<!-- bench:end -->";

/// The README's rows: (case, English label, Spanish label). The other cases are in
/// docs/bench.md's full table.
const ROWS: &[(&str, &str, &str)] = &[
    ("exec", "plain exec of `true`", "exec simple de `true`"),
    (
        "procfs",
        "`procfs` (uts, pid, mount ns, chroot, /proc)",
        "`procfs` (uts, pid, ns de montaje, chroot, /proc)",
    ),
    (
        "cgroups",
        "`cgroups` (pids, memory and cpu limits)",
        "`cgroups` (límites de pids, memoria y cpu)",
    ),
    (
        "net",
        "`net` (a veth pair, over rtnetlink)",
        "`net` (un par veth, por rtnetlink)",
    ),
    (
        "user",
        "`user` (root inside, you outside)",
        "`user` (root adentro, tú afuera)",
    ),
    (
        "full",
        "`full` (everything, hardened)",
        "`full` (todo, endurecido)",
    ),
    (
        "full+veth",
        "`full --net veth` (and a veth pair)",
        "`full --net veth` (y un par veth)",
    ),
    ("unshare", "util-linux `unshare`", "`unshare` de util-linux"),
    ("bwrap", "`bwrap --unshare-all`", "`bwrap --unshare-all`"),
    ("crun", "`crun`", "`crun`"),
    ("runc", "`runc`", "`runc`"),
];

/// Writes the run into the three files. `command` is the bench's command line as run;
/// `profile` is `--profile full`'s text.
pub fn write(report: &Report, command: &str, profile: &str) -> Result<()> {
    let root =
        std::env::var_os("DESDE_CERO_DOCS_ROOT").map_or_else(util::project_root, PathBuf::from);
    let when = util::utc_now();
    let runs = report.runs;
    let en = format!(
        "{}\n{}",
        cli::wrap(
            &format!(
                "`cargo xtask bench` starts `/bin/true` in every stage (static release builds) \
                 and in the tools people use instead, from the same root filesystem, in shuffled \
                 rounds. Medians from one run ({when}, `{command}`, {runs} rounds; the full \
                 table, per-step costs and what bounds each step are in \
                 [docs/bench.md](docs/bench.md)):"
            ),
            100,
            0
        ),
        table(report, Lang::En)?
    );
    let es = format!(
        "{}\n{}",
        cli::wrap(
            &format!(
                "`cargo xtask bench` arranca `/bin/true` en cada etapa (compiladas estáticas, en \
                 release) y en las herramientas que se usan en su lugar, desde el mismo sistema \
                 de archivos raíz, en rondas mezcladas. Medianas de una corrida ({when}, \
                 `{command}`, {runs} rondas; la tabla completa, el costo de cada paso y qué lo \
                 limita están en [docs/bench.md](docs/bench.md)):"
            ),
            100,
            0
        ),
        table(report, Lang::Es)?
    );
    let doc = format!(
        "### Latest run ({when})\n\n`{command}`, as root, written here by `--write-docs`:\n\n\
         ```\n{}\n```\n\n```\n{}\n```",
        report.text().trim_matches('\n'),
        profile.trim_matches('\n')
    );
    replace(&root.join("README.md"), &en)?;
    replace(&root.join("README.es.md"), &es)?;
    replace(&root.join("docs/bench.md"), &doc)?;
    eprintln!("bench: wrote this run into README.md, README.es.md and docs/bench.md");
    Ok(())
}

/// The README's table in one language: every row of [`ROWS`], from this run.
fn table(report: &Report, lang: Lang) -> Result<String> {
    let rows = report.rows();
    let mut out = lang
        .pick(
            "| case | median | × unshare | peak RSS |\n|------|-------:|----------:|---------:|\n",
            "| caso | mediana | × unshare | RSS máximo |\n|------|--------:|----------:|-----------:|\n",
        )
        .to_string();
    for (case, en, es) in ROWS {
        let label = lang.pick(en, es);
        // A peer that is not installed here is a row of dashes (the full table says why).
        let Some(row) = rows.iter().find(|r| r.case.name == *case) else {
            out.push_str(&format!("| {label} | — | — | — |\n"));
            continue;
        };
        let Some(ratio) = row.ratio else {
            bail!("--write-docs: this run has no unshare to compare `{case}` with");
        };
        out.push_str(&format!(
            "| {label} | {:.2} ms | {ratio:.2}× | {:.1} MiB |\n",
            row.median,
            row.max_rss_kib as f64 / 1024.0
        ));
    }
    Ok(out.trim_end().to_string())
}

/// Rewrites what lies between `path`'s markers with `text`.
fn replace(path: &Path, text: &str) -> Result<()> {
    let old =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let Ok(new) = util::between(&old, (BEGIN, END), &format!("{text}\n")) else {
        bail!("{}: no `{BEGIN}` … `{END}` pair", path.display());
    };
    if let Some(new) = new {
        fs::write(path, new).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
