//! `[upstream]`, `[limits]` and `[oauth]`: connect routes, the private addresses clients
//! may reach, and every duration within its sane range.

use super::*;

impl Validator<'_> {
    /// `[upstream]` as written, its routes and `allow_private` entries checked.
    pub(super) fn upstream(
        &self,
        raw: Option<Spanned<UpstreamConfig>>,
    ) -> Result<UpstreamConfig, ConfigError> {
        let upstream = match raw {
            None => UpstreamConfig::default(),
            Some(u) => {
                for c in &u.get_ref().connect_to {
                    if let Err(e) = ConnectTo::parse(c) {
                        return self.err(
                            u.span(),
                            e,
                            "write it as HOST:PORT:CONNECT_HOST:CONNECT_PORT".into(),
                        );
                    }
                }
                self.allow_private(&u)?;
                u.into_inner()
            }
        };

        Ok(upstream)
    }

    /// `[upstream] allow_private`: host names, IP addresses or CIDR blocks.
    fn allow_private(&self, u: &Spanned<UpstreamConfig>) -> Result<(), ConfigError> {
        for a in &u.get_ref().allow_private {
            if let Err(e) = crate::egress::parse_allow(a) {
                return self.err(
                    u.span(),
                    e,
                    "write allow_private = [\"gpu-box.lan\", \"192.168.1.20\", \"10.0.0.0/8\"]"
                        .into(),
                );
            }
        }
        Ok(())
    }

    /// Every top-level duration within its sane range (see `durations`).
    pub(super) fn durations(
        &self,
        u: &UpstreamConfig,
        l: &Limits,
        o: &OAuthConfig,
    ) -> Result<(), ConfigError> {
        use durations::*;
        for (range, value) in [
            (&CONNECT_TIMEOUT, u.connect_timeout),
            (&READ_TIMEOUT, u.read_timeout),
            (&SHUTDOWN_GRACE, l.shutdown_grace),
            (&TUNNEL_IDLE, l.tunnel_idle_timeout),
            (&FIRST_EVENT, l.first_event_timeout),
            (&HANDSHAKE, l.handshake_timeout),
            (&PARK_AFTER, l.park_after),
            (&STICKY_IDLE, l.sticky_idle),
            (&REFRESH_MARGIN, o.refresh_margin),
        ] {
            self.duration(range, value, None)?;
        }
        Ok(())
    }
}
