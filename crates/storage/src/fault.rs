//! What kind of store failure an error is, for the message a recipient gets.

use lakeshare_model::StorageFault;
use object_store::client::{HttpError, HttpErrorKind};

/// Classifies an error by walking its source chain for object_store's typed errors.
pub fn fault_of(error: &(dyn std::error::Error + 'static)) -> StorageFault {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. },
        ) = e.downcast_ref::<object_store::Error>()
        {
            return StorageFault::AccessDenied;
        }
        if let Some(http) = e.downcast_ref::<HttpError>() {
            match http.kind() {
                HttpErrorKind::Connect => return StorageFault::Unreachable,
                HttpErrorKind::Timeout => return StorageFault::TimedOut,
                _ => {}
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::TimedOut => return StorageFault::TimedOut,
                std::io::ErrorKind::ConnectionRefused => return StorageFault::Unreachable,
                std::io::ErrorKind::PermissionDenied => return StorageFault::AccessDenied,
                _ => {}
            }
        }
        current = e.source();
    }
    StorageFault::Failed
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
    }
}
