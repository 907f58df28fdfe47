//! Which optional test resources this machine has, so a test that needs a missing one is reported
//! as ignored, with its reason, in the test summary (a skip `cargo test` shows) rather than
//! passing silently.

fn main() {
    for cfg in ["tender_python3", "tender_litellm", "tender_llama", "tender_routellm_data", "tender_validation_data"] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    println!("cargo::rerun-if-env-changed=TENDER_LITELLM_URL");
    println!("cargo::rerun-if-env-changed=TENDER_LITELLM_KEY");
    println!("cargo::rerun-if-env-changed=TENDER_LLAMA_URL");
    println!("cargo::rerun-if-changed=build.rs");
    let python = std::process::Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    if python {
        println!("cargo::rustc-cfg=tender_python3");
    }
    println!("cargo::rerun-if-env-changed=TENDER_REQUIRE_LIVE");
    let gateway = std::env::var_os("TENDER_LITELLM_URL").is_some() && std::env::var_os("TENDER_LITELLM_KEY").is_some();
    let llama = std::env::var_os("TENDER_LLAMA_URL").is_some();
    if gateway {
        println!("cargo::rustc-cfg=tender_litellm");
    }
    if llama {
        println!("cargo::rustc-cfg=tender_llama");
    }
    if std::env::var_os("TENDER_REQUIRE_LIVE").is_some() && !(gateway && llama) {
        // CI: the gateway and real-model tests must run, not be ignored.
        panic!(
            "TENDER_REQUIRE_LIVE is set but TENDER_LITELLM_URL and TENDER_LITELLM_KEY (the LiteLLM gateway) or \
             TENDER_LLAMA_URL (a llama.cpp server) are not"
        );
    }
    // Watched only where it exists: cargo treats a missing watched path as always changed, which
    // would rebuild the crate on every command (touch build.rs after adding the data).
    let data = std::path::Path::new("../shared/data/routellm/gsm8k_responses.csv");
    if data.exists() {
        println!("cargo::rerun-if-changed=../shared/data/routellm");
        println!("cargo::rustc-cfg=tender_routellm_data");
    }
    // `tender validation` reads RouteLLM's tables and the recorded live run.
    let live = std::path::Path::new("../shared/data/live/example30/trace.jsonl");
    if data.exists() && live.exists() {
        println!("cargo::rerun-if-changed=../shared/data/live/example30");
        println!("cargo::rustc-cfg=tender_validation_data");
    }
}
