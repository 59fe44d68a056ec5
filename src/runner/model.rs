//! The run record now lives in the shared model (`crate::model`), below the store and the report;
//! this path stays for code that names it here.

pub use crate::model::run::*;
