//! What kind of store failure an error is, for the message a recipient gets.

use lakeshare_model::StorageFault;
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
        current = e.source();
    }
    found
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
}
