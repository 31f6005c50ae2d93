//! alert-server library (placeholder).
use alert_dingtalk as _;
use alert_wechat as _;
