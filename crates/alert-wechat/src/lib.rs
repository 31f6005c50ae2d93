//! WeCom channel plugin (placeholder while it is being written).
