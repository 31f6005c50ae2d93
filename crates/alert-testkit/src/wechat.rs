//! A WeCom server mock (being written).
