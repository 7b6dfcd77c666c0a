//! The native API's HTTP plumbing, shared by every `/v1` resource: request ids, the signature
//! middleware, input extraction (JSON, multipart, query), and the one place where an error code
//! becomes an HTTP response. Vendor facades will have plumbing of their own beside this.

pub mod extract;
pub mod request_id;
pub mod response;
pub mod signature;
