//! Tokens as recipients hand them back (page and refresh tokens, `/files` tokens, S3 session
//! tokens): a forged or damaged one is refused, never accepted or a crash, and what the
//! gateway signed verifies to exactly what it signed, for its purpose alone.
#![no_main]

use lakeshare_storage::{Purpose, Signer};
use libfuzzer_sys::fuzz_target;

const PURPOSES: [Purpose; 8] = [
    Purpose::LocalFile,
    Purpose::ListPage,
    Purpose::QueryPage,
    Purpose::ChangePage,
    Purpose::Refresh,
    Purpose::S3Credential,
    Purpose::AccessToken,
    Purpose::AsyncQuery,
];

fuzz_target!(|data: &[u8]| {
    let signer = Signer::from_secrets(&["fuzzing secret", "an older secret"]);
    if let Ok(token) = std::str::from_utf8(data) {
        for purpose in PURPOSES {
            // Nobody without the secret can make a token that verifies.
            assert!(
                signer.verify(purpose, token).is_err(),
                "a forged token verified"
            );
        }
    }
    for (i, purpose) in PURPOSES.into_iter().enumerate() {
        let token = signer.sign(purpose, data);
        assert_eq!(signer.verify(purpose, &token).expect("its own token"), data);
        let other = PURPOSES[(i + 1) % PURPOSES.len()];
        assert!(
            signer.verify(other, &token).is_err(),
            "a token verified for another purpose"
        );
        // Any one character changed breaks it (the last one is left alone: some of its bits
        // may be padding).
        let mut damaged: Vec<char> = token.chars().collect();
        let at = data.first().map_or(0, |b| *b as usize) % (damaged.len() - 1);
        damaged[at] = if damaged[at] == 'A' { 'B' } else { 'A' };
        let damaged: String = damaged.into_iter().collect();
        assert!(
            signer.verify(purpose, &damaged).is_err(),
            "a damaged token verified"
        );
    }
});
