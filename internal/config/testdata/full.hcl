# A complete configuration using every supported setting.
storage "file" {
  path = "/var/lib/coffer"
}

listener "tcp" {
  address          = "0.0.0.0:8200"
  tls_cert_file    = "/etc/coffer/tls.crt"
  tls_key_file     = "/etc/coffer/tls.key"
  tls_min_version  = "tls13"
  max_request_size = 1048576

  x_forwarded_for_authorized_addrs      = ["10.0.0.0/8", "192.168.1.7", "::ffff:172.16.0.0/108"]
  x_forwarded_for_hop_skips             = 1
  x_forwarded_for_reject_not_authorized = true
  x_forwarded_for_reject_not_present    = "true"
}

listener "tcp" {
  tls_disable                              = "1"
  disable_unauthed_rekey_endpoints         = true
  disable_unauthed_generate_root_endpoints = "true"

  telemetry {
    unauthenticated_metrics_access = true
  }
}

telemetry {
  prometheus_retention_time = "12h"
  disable_hostname          = true
  usage_gauge_period        = "none"
}

seal "static" {
  key_file = "/etc/coffer/seal.key"
}

api_addr          = "https://coffer.example.com:8200"
cluster_name      = "prod"
ui                = true
log_level         = "Warning"
log_format        = "standard"
default_lease_ttl = 3600
max_lease_ttl     = "720h"
disable_mlock     = true
pid_file          = "/run/coffer.pid"

user_lockout "all" {
  lockout_duration      = "10m"
  lockout_counter_reset = "10m"
}

user_lockout "userpass" {
  lockout_threshold = "25"
  lockout_duration  = 300
  disable_lockout   = "false"
}

disable_api_audit_creation = false

audit "file" "main" {
  description = "every request and response"
  options {
    file_path = "/var/log/coffer/audit.log"
    mode      = "0600"
  }
}
