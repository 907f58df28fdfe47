//! Every plot renders from saved results: valid PNGs, well-formed SVGs naming their series, and
//! a report that shows them all.

use crate::util::{path, small, tender_ok as tender, timed_small};

use std::path::Path;

/// Width and height from a PNG's signature and IHDR chunk.
fn png_size(file: &Path) -> (u32, u32) {
    let bytes = std::fs::read(file).expect("png written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is not a PNG", file.display());
    assert_eq!(&bytes[12..16], b"IHDR");
    let word = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (word(16), word(20))
}

/// Every text of a well-formed SVG.
fn svg_texts(file: &Path) -> String {
    let text = std::fs::read_to_string(file).expect("svg written");
    let doc =
        roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{} is not well-formed: {e}", file.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants().filter_map(|n| n.text()).collect::<Vec<_>>().join("\n")
}

fn check(dir: &Path, stems: &[&str], series: &[&str]) {
    let report = std::fs::read_to_string(dir.join("report.html")).expect("report written");
    for stem in stems {
        assert_eq!(png_size(&dir.join(format!("{stem}.png"))), (1100, 620), "{stem}");
        let texts = svg_texts(&dir.join(format!("{stem}.svg")));
        assert!(texts.contains(series[0]), "{stem}.svg lacks the series {:?}", series[0]);
        assert!(report.contains(&format!("id=\"{stem}.svg\"")), "report lacks {stem}");
    }
    for name in series {
        assert!(svg_texts(&dir.join(format!("{}.svg", stems[0]))).contains(name), "{} lacks {name}", stems[0]);
    }
    assert_eq!(report.matches("<svg").count(), stems.len(), "one inlined SVG per plot");
    assert!(!dir.read_dir().expect("dir").any(|e| e.expect("entry").file_name().to_string_lossy().contains(".tmp.")));
}

#[test]
fn a_run_draws_every_plot_and_a_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("run");
    let small = small();
    tender(&["run", path(&small), "--episodes", "3", "--out", path(&out)]);
    check(
        &out,
        &["cost_vs_pass", "pass_by_bin", "shares_by_bin", "learning_curve", "accuracy_vs_strong_share"],
        &["SALE", "SALE (no memory)", "small alone", "oracle"],
    );
    let routing = svg_texts(&out.join("accuracy_vs_strong_share.svg"));
    assert!(routing.contains("calls to large (%)") && routing.contains("accuracy (%)"), "{routing}");
    let curve = svg_texts(&out.join("learning_curve.svg"));
    assert!(curve.contains("small share of wins so far (%)") && curve.contains("tasks arrived"));
    // Only what learns along the stream has a learning curve: SALE, not SALE without memory.
    assert!(curve.contains("SALE") && !curve.contains("SALE (no memory)"), "{curve}");
    let cost = svg_texts(&out.join("cost_vs_pass.svg"));
    assert!(cost.contains("cost ($ per million tokens)") && cost.contains("pass@1 (%)"));
    // The report shows what the mechanisms declare they report, read from mechanisms.csv: SALE's
    // refinements, with an agent (the provisional winner) shown without an episode value.
    let report = std::fs::read_to_string(out.join("report.html")).expect("report");
    let reported = &report[report.find("Reported by the mechanisms").expect("a reported table")..];
    assert!(reported.contains("<th>refined</th>") && reported.contains("<th>refiners</th>"), "{reported}");
    assert!(reported.contains("<td>SALE</td>") && !reported.contains("<td>small alone</td>"), "{reported}");
    // Plotting again from the files alone gives the same pictures.
    let before = std::fs::read(out.join("cost_vs_pass.svg")).expect("svg");
    tender(&["plot", path(&out)]);
    assert_eq!(before, std::fs::read(out.join("cost_vs_pass.svg")).expect("svg"));
}

#[test]
fn a_sweep_draws_welfare_and_cost_against_each_parameter() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("sweep");
    let small = small();
    tender(&[
        "sweep",
        path(&small),
        "--set",
        "mechanisms.sale.w_c=0..0.04:0.02",
        "--set",
        "standins.shared_difficulty=0.4,0.6",
        "--replications",
        "3",
        "--out",
        path(&out),
    ]);
    check(
        &out,
        &[
            "welfare_vs_mechanisms_sale_w_c",
            "cost_vs_mechanisms_sale_w_c",
            "welfare_vs_standins_shared_difficulty",
            "cost_vs_standins_shared_difficulty",
            "cost_vs_pass",
        ],
        &["SALE", "oracle"],
    );
    let welfare = svg_texts(&out.join("welfare_vs_mechanisms_sale_w_c.svg"));
    assert!(welfare.contains("welfare per episode ($)") && welfare.contains("mechanisms.sale.w_c"));
}

#[test]
fn no_plots_means_no_plots_and_plot_refuses_other_folders() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("run");
    let small = small();
    tender(&["run", path(&small), "--episodes", "2", "--out", path(&out), "--no-plots"]);
    assert!(!out.join("report.html").exists());
    let o = crate::util::tender(&["plot", path(dir.path())]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a folder Tender wrote"));
}

#[test]
fn per_task_rows_can_be_compressed_or_left_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (gz, none) = (dir.path().join("gz"), dir.path().join("none"));
    tender(&["run", path(&small()), "--episodes", "2", "--tasks", "gzip", "--out", path(&gz)]);
    assert!(!gz.join("tasks.csv").exists() && gz.join("tasks.csv.gz").exists());
    // The compressed rows are the rows: the learning curve is drawn from them.
    assert!(gz.join("learning_curve.png").exists());
    tender(&["run", path(&small()), "--episodes", "2", "--tasks", "none", "--out", path(&none)]);
    assert!(!none.join("tasks.csv").exists() && !none.join("tasks.csv.gz").exists());
    assert!(none.join("summary.csv").exists() && !none.join("learning_curve.png").exists());
    let plain = dir.path().join("plain");
    tender(&["run", path(&small()), "--episodes", "2", "--out", path(&plain)]);
    let mut unzipped = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(gz.join("tasks.csv.gz")).expect("gz")),
        &mut unzipped,
    )
    .expect("gzip");
    assert_eq!(unzipped, std::fs::read_to_string(plain.join("tasks.csv")).expect("csv"));
}

#[test]
fn a_random_design_over_several_parameters_plots_partial_dependence_with_captions_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("lhs");
    tender(&[
        "sweep",
        path(&small()),
        "--set",
        "mechanisms.sale.w_c=0..0.05",
        "--set",
        "standins.shared_difficulty=0.3..0.7",
        "--design",
        "lhs:12",
        "--replications",
        "2",
        "--out",
        path(&out),
    ]);
    let svg = svg_texts(&out.join("welfare_vs_mechanisms_sale_w_c.svg"));
    assert!(svg.contains("binned; averaged over the other parameters"), "{svg}");
    let report = std::fs::read_to_string(out.join("report.html")).expect("report");
    assert!(
        report.contains("<figcaption>Welfare per episode against mechanisms_sale_w_c"),
        "captions say what is shown"
    );
    let (figure, table) = (report.find("<figure").expect("figures"), report.find("<table").expect("table"));
    assert!(figure < table, "a sweep's report shows its figures before its long table");
    // What SALE declares it reports reaches the sweep's table, a flag as a percentage; the
    // mechanisms that do not report it show —.
    assert!(report.contains("<th>refined %</th>") && report.contains("<th>refiners</th>"), "{report}");
    let rows: Vec<&str> = report.split("<tr>").filter(|r| r.contains("<td>")).collect();
    let sale = rows.iter().find(|r| r.contains("<td>SALE</td>")).expect("a SALE row");
    let alone = rows.iter().find(|r| r.contains(" alone</td>")).expect("an agent-alone row");
    assert!(sale.matches('±').count() >= 5, "SALE's row has its quantities: {sale}");
    assert!(alone.ends_with("<td>—</td><td>—</td></tr>"), "{alone}");
}

#[test]
fn a_timed_run_draws_its_latency_distribution_and_utilisation_over_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = timed_small(dir.path(), 0.05);
    let out = dir.path().join("out");
    let args = ["run", scenario.to_str().expect("utf-8"), "--episodes", "2", "--out", out.to_str().expect("utf-8")];
    let run = tender(&args);
    let printed = String::from_utf8_lossy(&run.stdout);
    assert!(printed.contains("Latency in simulated time"), "{printed}");
    assert!(printed.contains("Agents as servers") && printed.contains("generic"), "{printed}");
    let svg = std::fs::read_to_string(out.join("latency_cdf.svg")).expect("the latency plot");
    assert!(svg.contains("tasks answered within it"));
    // The first episode's busy shares over time: 100 bins per mechanism, each share in [0, 1].
    let busy = std::fs::read_to_string(out.join("utilisation.csv")).expect("utilisation.csv");
    assert!(busy.starts_with("mechanism,time_s,small,medium,large\n"), "{busy}");
    let rows: Vec<Vec<f64>> =
        busy.lines().skip(1).map(|l| l.split(',').skip(1).map(|v| v.parse().expect("a number")).collect()).collect();
    assert_eq!(rows.len(), 100 * 8, "100 bins for each of the eight mechanisms");
    assert!(rows.iter().all(|r| r[1..].iter().all(|s| (0.0..=1.0 + 1e-9).contains(s))));
    assert!(rows.iter().any(|r| r[1..].iter().any(|&s| s > 0.0)), "someone was busy");
    let svg = std::fs::read_to_string(out.join("utilisation_over_time.svg")).expect("the utilisation plot");
    assert!(svg.contains("Utilisation over time") && svg.contains("random"));
    // An untimed run draws neither.
    let plain = dir.path().join("plain");
    tender(&["run", small().to_str().expect("utf-8"), "--episodes", "2", "--out", plain.to_str().expect("utf-8")]);
    assert!(!plain.join("latency_cdf.svg").exists() && !plain.join("utilisation.csv").exists());
}

/// Plots find a mechanism by what it declares of itself (`mechanisms.csv`), never by its name:
/// SALE named "market A" keeps its learning curve, and a mechanism named "SALE ..." that does not
/// learn gets none.
#[test]
fn a_learning_curve_follows_what_a_mechanism_declares_not_its_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(small())
        .expect("fixture")
        .replace("Sale(w_c: 0.06, w_h: 2.0),", "Sale(name: \"market A\", w_c: 0.06, w_h: 2.0),")
        .replace(
            "Sale(w_c: 0.06, w_h: 2.0, memory: false),",
            "Sale(name: \"SALE B\", w_c: 0.06, w_h: 2.0, memory: false),",
        );
    let scenario = dir.path().join("renamed.ron");
    std::fs::write(&scenario, text).expect("written");
    let out = dir.path().join("run");
    tender(&["run", path(&scenario), "--episodes", "2", "--out", path(&out)]);
    let curve = svg_texts(&out.join("learning_curve.svg"));
    assert!(curve.contains("market A"), "{curve}");
    assert!(!curve.contains("SALE"), "a SALE without memory, named \"SALE B\", does not learn: {curve}");
    let declared = std::fs::read_to_string(out.join("mechanisms.csv")).expect("mechanisms.csv");
    assert!(declared.contains("market A,market,,true") && declared.contains("oracle,oracle,,false"), "{declared}");
}
