//! What kind of store failure an error is, for the message a recipient gets: one classifier
//! for every adapter and the storage layer, so the same failure gets the same status whichever
//! library reported it.

use crate::StorageFault;
use object_store::client::{HttpError, HttpErrorKind};

/// Classifies an error by walking its source chain for object_store's typed errors.
pub fn fault_of(error: &(dyn std::error::Error + 'static)) -> StorageFault {
    store_fault(error).unwrap_or(StorageFault::Failed)
}

/// The fault, if the chain of `error` holds a store failure at all (an object_store, HTTP or
/// I/O error), and `None` when it is something else (a malformed log, say).
pub fn store_fault(error: &(dyn std::error::Error + 'static)) -> Option<StorageFault> {
    let mut found = None;
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(store_error) = e.downcast_ref::<object_store::Error>() {
            if let object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } = store_error
            {
                return Some(StorageFault::AccessDenied);
            }
            // object_store's retry error, which carries the HTTP status of a refused request,
            // is not public: its text is the only way to tell a 403 from a 500.
            let text = store_error.to_string();
            if text.contains("status code: 403") || text.contains("status code: 401") {
                return Some(StorageFault::AccessDenied);
            }
            found = Some(StorageFault::Failed);
        }
        if let Some(http) = e.downcast_ref::<HttpError>() {
            match http.kind() {
                HttpErrorKind::Connect => return Some(StorageFault::Unreachable),
                HttpErrorKind::Timeout => return Some(StorageFault::TimedOut),
                _ => found = Some(StorageFault::Failed),
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::TimedOut => return Some(StorageFault::TimedOut),
                std::io::ErrorKind::ConnectionRefused => return Some(StorageFault::Unreachable),
                std::io::ErrorKind::PermissionDenied => return Some(StorageFault::AccessDenied),
                _ => found = Some(StorageFault::Failed),
            }
        }
        // Libraries that wrap object stores of their own (opendal, under iceberg) name the
        // kind in their text: `PermissionDenied (permanent) at read, …`.
        if found.is_none()
            && let Some(fault) = fault_in_text(&e.to_string())
        {
            found = Some(fault);
        }
        current = e.source();
    }
    found
}

/// The fault a message names, for errors whose types are not visible here.
fn fault_in_text(text: &str) -> Option<StorageFault> {
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if has(&[
        "PermissionDenied",
        "status code: 403",
        "status code: 401",
        "AccessDenied",
    ]) {
        Some(StorageFault::AccessDenied)
    } else if has(&["timed out", "deadline has elapsed"]) {
        Some(StorageFault::TimedOut)
    } else if has(&[
        "Connection refused",
        "ConnectionRefused",
        "error trying to connect",
        "dns error",
    ]) {
        Some(StorageFault::Unreachable)
    } else if has(&[
        // The kernel and deltalake carry object_store errors of their own version as text.
        "Error interacting with object store",
        "error sending request",
        "request or response body error",
        "Connection reset",
        "connection closed before message completed",
    ]) {
        Some(StorageFault::Failed)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_typed_errors_anywhere_in_the_chain() {
        let denied = object_store::Error::PermissionDenied {
            path: "k".into(),
            source: "403".into(),
        };
        assert_eq!(fault_of(&denied), StorageFault::AccessDenied);
        let refused = object_store::Error::Generic {
            store: "S3",
            source: Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        };
        assert_eq!(fault_of(&refused), StorageFault::Unreachable);
        let other = object_store::Error::Generic {
            store: "S3",
            source: "boom".into(),
        };
        assert_eq!(fault_of(&other), StorageFault::Failed);
        let forbidden_listing = object_store::Error::Generic {
            store: "S3",
            source: "Error performing list request: Server returned non-2xx status code: 403 Forbidden: <Error/>".into(),
        };
        assert_eq!(fault_of(&forbidden_listing), StorageFault::AccessDenied);
        let not_a_store_error = std::fmt::Error;
        assert_eq!(store_fault(&not_a_store_error), None);
    }

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Wrapped(String);

    #[test]
    fn classifies_faults_other_libraries_name_in_their_text() {
        let denied =
            Wrapped("PermissionDenied (permanent) at read, context: { path: t/m.json }".into());
        assert_eq!(store_fault(&denied), Some(StorageFault::AccessDenied));
        let slow = Wrapped("Unexpected (temporary) at stat => operation timed out".into());
        assert_eq!(store_fault(&slow), Some(StorageFault::TimedOut));
        let down = Wrapped("error trying to connect: tcp connect error: Connection refused".into());
        assert_eq!(store_fault(&down), Some(StorageFault::Unreachable));
        // A connection cut while a body was read, as the kernel reports it.
        let cut = Wrapped(
            "Kernel error: Error interacting with object store: Generic S3 error: HTTP error: \
             request or response body error"
                .into(),
        );
        assert_eq!(store_fault(&cut), Some(StorageFault::Failed));
        assert_eq!(store_fault(&Wrapped("unexpected end of JSON".into())), None);
    }
}
