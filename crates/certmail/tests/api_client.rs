//! The OpenAPI document makes a working client (issue 27): a Python client is generated from
//! the `/api/v1/openapi.json` that a running `certmail serve` serves (with
//! `openapi-python-client`), and calls endpoints through it: who am I, the CAs (the same
//! objects `certmail ca list --json` prints), the settings table, a setting set and read
//! back. A document that declares parameters in the wrong place, reuses operation ids or
//! leaves list items undescribed makes the generator or these calls fail.

mod common;

use std::process::Command;

use common::mta::{Gateway, free_port};

/// The Python with `openapi_python_client`, or `None` (a panic under `CI`).
fn python() -> Option<String> {
    let python = std::env::var("CERTMAIL_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import openapi_python_client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some(python)
    } else {
        common::missing("openapi-python-client (pip install openapi-python-client)");
        None
    }
}

const SCRIPT: &str = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
from certmail_client import AuthenticatedClient
from certmail_client.api.accounts import me
from certmail_client.api.ca import cas
from certmail_client.api.settings import setting_definitions, global_get, global_put
from certmail_client.models import SettingBody

client = AuthenticatedClient(base_url=sys.argv[2], token=sys.argv[3], raise_on_unexpected_status=True)
who = me.sync(client=client)
listed = cas.sync(client=client)
defs = setting_definitions.sync(client=client)
put = global_put.sync(key="hold-expire-days", client=client, body=SettingBody(value="9"))
got = global_get.sync(key="hold-expire-days", client=client)
refused = global_put.sync_detailed(key="hold-expire-days", client=client, body=SettingBody(value="0"))
print(json.dumps({
    "me": {"name": who.name, "role": who.role},
    "cas": [{"id": c.id, "name": c.name, "root_sha256": c.root_sha256, "signer_sha256": c.signer_sha256,
             "is_default": c.is_default} for c in listed.items],
    "definitions": [{"key": d.key, "type": d.type_, "default": d.default, "scope": d.scope} for d in defs],
    "put": put.value,
    "got": {"value": got.value, "source": got.source},
    "refused": int(refused.status_code),
}))
"#;

#[test]
fn a_client_generated_from_the_openapi_document_calls_the_api() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let cli = |args: &[&str]| {
        let out = common::certmail(&data, args).output().expect("certmail");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    cli(&["init"]);
    cli(&[
        "ca",
        "create",
        "--root-cn",
        "Client Root",
        "--intermediate-cn",
        "Client Issuing",
        "--key",
        "p256",
        "--default",
    ]);
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "a long enough password 1\n").expect("pw");
    cli(&[
        "admin",
        "add",
        "ops",
        "--role",
        "admin",
        "--password-file",
        pw.to_str().expect("utf-8"),
    ]);
    let token = cli(&["admin", "token", "ops"])
        .lines()
        .last()
        .expect("token line")
        .trim()
        .to_owned();
    let gw = Gateway::start(&data, free_port(), free_port(), &dir.path().join("gw.log"));
    let (code, resp) = common::http(gw.http, "GET", "/api/v1/openapi.json", None, None);
    assert_eq!(code, 200, "{resp}");
    let body = resp.split_once("\r\n\r\n").expect("body").1;
    let spec = dir.path().join("openapi.json");
    std::fs::write(&spec, body).expect("spec");

    // Generate the client (no formatter hooks: nothing beyond the generator is needed).
    let config = dir.path().join("gen.yaml");
    std::fs::write(
        &config,
        "post_hooks: []\nproject_name_override: certmail-client\npackage_name_override: certmail_client\n",
    )
    .expect("config");
    let out_dir = dir.path().join("client");
    let gen_out = Command::new(&python)
        .args(["-m", "openapi_python_client", "generate", "--meta", "none"])
        .arg("--path")
        .arg(&spec)
        .arg("--config")
        .arg(&config)
        .arg("--output-path")
        .arg(out_dir.join("certmail_client"))
        .output()
        .expect("openapi-python-client");
    assert!(
        gen_out.status.success(),
        "generator: {}{}",
        String::from_utf8_lossy(&gen_out.stdout),
        String::from_utf8_lossy(&gen_out.stderr)
    );
    // Every JSON endpoint makes a client function; only bodies of raw types (messages,
    // certificates, CSV) are beyond this generator.
    let warnings = String::from_utf8_lossy(&gen_out.stdout).into_owned();
    for line in warnings
        .lines()
        .filter(|l| l.contains("Endpoint will not be generated"))
    {
        assert!(
            [
                "/smime/",
                "/ca/bulk",
                "/ca/pending/upload",
                "/ca/sign-csr",
                "POST /api/v1/crls "
            ]
            .iter()
            .any(|raw| line.contains(raw)),
            "a JSON endpoint the generator cannot use: {line}"
        );
    }

    let run = Command::new(&python)
        .args(["-c", SCRIPT])
        .arg(&out_dir)
        .arg(format!("http://127.0.0.1:{}", gw.http))
        .arg(&token)
        .output()
        .expect("python");
    assert!(
        run.status.success(),
        "client calls: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&run.stdout).expect("the script's JSON");
    assert_eq!(got["me"]["name"], "ops", "{got}");
    assert_eq!(got["me"]["role"], "admin", "{got}");
    // The CAs through the client are the objects `ca list --json` prints.
    let listed: serde_json::Value =
        serde_json::from_str(&cli(&["ca", "list", "--json"])).expect("ca list --json");
    let cas = got["cas"].as_array().expect("cas");
    assert_eq!(cas.len(), 1, "{got}");
    assert_eq!(cas[0]["name"], "Client Issuing");
    assert_eq!(cas[0]["is_default"], true);
    for field in ["id", "name", "root_sha256", "signer_sha256", "is_default"] {
        assert_eq!(cas[0][field], listed[0][field], "{field}: {got} / {listed}");
    }
    let defs = got["definitions"].as_array().expect("definitions");
    assert!(defs.len() >= 25, "{got}");
    assert!(
        defs.iter().any(|d| d["key"] == "encrypt-mode"
            && d["type"] == "choice"
            && d["default"] == "allow"),
        "{got}"
    );
    assert_eq!(got["put"], "9");
    assert_eq!(got["got"]["value"], "9");
    assert_eq!(got["got"]["source"], "global");
    assert_eq!(got["refused"], 400, "hold-expire-days 0 is refused");
}
