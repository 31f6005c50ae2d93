//! DingTalk (placeholder)
