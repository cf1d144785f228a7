//! `glassbox key`: key files openssl reads, modes, and securesystemslib key ids.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::*;

#[test]
fn generate_writes_openssl_readable_keys_and_prints_the_key_id() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("me");
    let printed = ok(glassbox().args(["key", "generate", "--out"]).arg(&prefix));
    let id = printed.trim();
    assert_eq!(id.len(), 64);
    let (private, public) = (prefix.with_extension("key"), prefix.with_extension("pub"));
    assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!printed.contains("PRIVATE"));
    assert_eq!(ok(glassbox().args(["key", "id"]).arg(&public)).trim(), id);
    assert_eq!(ok(glassbox().args(["key", "id"]).arg(&private)).trim(), id);

    // Refuses to overwrite.
    let again = output(glassbox().args(["key", "generate", "--out"]).arg(&prefix));
    assert_eq!(again.status.code(), Some(2));

    if have_tool("openssl", &["version"]) {
        let derived = ok(Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&private));
        assert_eq!(derived, std::fs::read_to_string(&public).unwrap());
    }
    if let Some(python) = python_with_sslib() {
        let script = "import sys\nfrom cryptography.hazmat.primitives.serialization import load_pem_public_key\n\
                      from securesystemslib.signer import SSlibKey\n\
                      print(SSlibKey.from_crypto(load_pem_public_key(open(sys.argv[1],'rb').read())).keyid)";
        assert_eq!(ok(Command::new(python).arg("-c").arg(script).arg(&public)).trim(), id);
    }
}
