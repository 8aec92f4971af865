//! Fetching a `file_url` from a host on the `ALLOWED_FETCH_HOSTS` list.
//!
//! SECURITY: the fetch must never reach the service's own network. The host
//! must be a name on the list, never an IP literal in any spelling. The name
//! is resolved once, and every address it resolves to must be public. Private,
//! loopback, link-local, multicast, unspecified, reserved and metadata
//! addresses are refused, and so are IPv4-mapped or translated forms of
//! them. The connection goes to the address that was checked, so a second
//! DNS answer cannot swap it. Redirects are not followed by the HTTP client: each
//! `Location` goes through the same checks, at most [`MAX_REDIRECTS`] times.
//! The body is capped in size and the whole fetch in time. The bytes are then
//! copied into the product's bucket, so the link serves exactly what was
//! fetched.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

/// Most redirects followed, each checked like the first URL.
pub const MAX_REDIRECTS: usize = 3;

/// Maximum duration of a whole fetch, redirects included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// Failure of a fetch; each becomes a 422 on `file_url`.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is not one the policy allows.
    #[error("{0}")]
    Rejected(String),
    /// The host could not be resolved or reached, or returned an error status.
    #[error("{0}")]
    Failed(String),
    /// The body is larger than the limit.
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
}

/// Name resolution, injectable so that tests can map names to local servers.
#[async_trait]
pub trait Resolve: Send + Sync {
    /// Returns every address `host` resolves to, with `port`.
    ///
    /// # Errors
    ///
    /// Returns the resolver's failure.
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>>;
}

/// The system resolver.
#[derive(Debug, Default)]
pub struct SystemResolver;

#[async_trait]
impl Resolve for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host, port)).await?.collect())
    }
}

/// Rule for the addresses and schemes a fetch may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressPolicy {
    /// Public addresses over https only: the one policy the service runs.
    PublicHttps,
    /// Also loopback addresses and plain http, for tests that serve files
    /// from 127.0.0.1. Every other non-public address is still refused.
    #[cfg(feature = "test-util")]
    LoopbackForTests,
}

/// Fetches files from allowed hosts.
#[derive(Clone)]
pub struct Fetcher {
    allowed_hosts: Vec<String>,
    resolver: Arc<dyn Resolve>,
    policy: AddressPolicy,
    max_bytes: u64,
}

impl Fetcher {
    /// Builds a fetcher for `allowed_hosts` (lowercase names) that takes at
    /// most `max_bytes`.
    pub fn new(
        allowed_hosts: Vec<String>,
        resolver: Arc<dyn Resolve>,
        policy: AddressPolicy,
        max_bytes: u64,
    ) -> Self {
        Self {
            allowed_hosts,
            resolver,
            policy,
            max_bytes,
        }
    }

    /// Returns whether `url` names a host on the allow-list; only such URLs
    /// are fetched.
    pub fn is_allowed_host(&self, url: &url::Url) -> bool {
        matches!(url.host(), Some(url::Host::Domain(name))
            if self.allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(name)))
    }

    /// Fetches `url` and returns its bytes and declared content type.
    ///
    /// # Errors
    ///
    /// [`FetchError::Rejected`] when a URL or address breaks the policy,
    /// [`FetchError::TooLarge`] over the size limit, and
    /// [`FetchError::Failed`] for network errors, timeouts and error
    /// statuses.
    pub async fn fetch(&self, url: &url::Url) -> Result<(Bytes, Option<String>), FetchError> {
        tokio::time::timeout(FETCH_TIMEOUT, self.fetch_following(url.clone()))
            .await
            .map_err(|_| FetchError::Failed("the fetch timed out".into()))?
    }

    async fn fetch_following(
        &self,
        mut url: url::Url,
    ) -> Result<(Bytes, Option<String>), FetchError> {
        for _ in 0..=MAX_REDIRECTS {
            let (host, address) = self.check(&url).await?;
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                // SECURITY: connect to the address that was checked, never
                // to a second answer from DNS.
                .resolve(&host, address)
                .connect_timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| FetchError::Failed(format!("client set-up failed: {e}")))?;
            let response = client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| FetchError::Failed(format!("the request failed: {e}")))?;
            if response.status().is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| FetchError::Failed("a redirect had no Location".into()))?;
                url = url
                    .join(location)
                    .map_err(|_| FetchError::Rejected("a redirect named an invalid URL".into()))?;
                continue;
            }
            if !response.status().is_success() {
                return Err(FetchError::Failed(format!(
                    "the host returned status {}",
                    response.status()
                )));
            }
            return self.read_capped(response).await;
        }
        Err(FetchError::Rejected(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }

    /// Checks scheme, host and every resolved address of `url`, and returns
    /// the host name and the address to connect to.
    async fn check(&self, url: &url::Url) -> Result<(String, SocketAddr), FetchError> {
        let scheme_ok = match self.policy {
            AddressPolicy::PublicHttps => url.scheme() == "https",
            #[cfg(feature = "test-util")]
            AddressPolicy::LoopbackForTests => matches!(url.scheme(), "https" | "http"),
        };
        if !scheme_ok {
            return Err(FetchError::Rejected(format!(
                "scheme {:?} is not fetched; use https",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::Rejected(
                "the URL must not carry credentials".into(),
            ));
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) => name.to_ascii_lowercase(),
            Some(_) => {
                return Err(FetchError::Rejected(
                    "an IP address is never fetched; name an allowed host".into(),
                ));
            }
            None => return Err(FetchError::Rejected("the URL has no host".into())),
        };
        if !self.is_allowed_host(url) {
            return Err(FetchError::Rejected(format!(
                "host {host:?} is not on the allowed list"
            )));
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses = self
            .resolver
            .resolve(&host, port)
            .await
            .map_err(|e| FetchError::Failed(format!("resolving {host:?} failed: {e}")))?;
        let first = *addresses
            .first()
            .ok_or_else(|| FetchError::Failed(format!("{host:?} has no address")))?;
        if let Some(bad) = addresses.iter().find(|a| !self.permits(a.ip())) {
            return Err(FetchError::Rejected(format!(
                "{host:?} resolves to {}, which is not a public address",
                bad.ip()
            )));
        }
        Ok((host, first))
    }

    fn permits(&self, ip: IpAddr) -> bool {
        match self.policy {
            AddressPolicy::PublicHttps => is_public(ip),
            #[cfg(feature = "test-util")]
            AddressPolicy::LoopbackForTests => is_public(ip) || ip.is_loopback(),
        }
    }

    async fn read_capped(
        &self,
        response: reqwest::Response,
    ) -> Result<(Bytes, Option<String>), FetchError> {
        if response
            .content_length()
            .is_some_and(|length| length > self.max_bytes)
        {
            return Err(FetchError::TooLarge(self.max_bytes));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = BytesMut::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| FetchError::Failed(format!("reading failed: {e}")))?;
            if (body.len() + chunk.len()) as u64 > self.max_bytes {
                return Err(FetchError::TooLarge(self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body.freeze(), content_type))
    }
}

/// Returns whether `ip` is a public unicast address that a fetch may reach.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let blocked = a == 0 // "this network"
        || a == 10 // private
        || (a == 100 && (64..=127).contains(&b)) // carrier-grade NAT
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local, instance metadata
        || (a == 172 && (16..=31).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay
        || (a == 192 && b == 168) // private
        || (a == 198 && (18..=19).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224; // multicast, reserved, broadcast
    !blocked
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    // Forms that carry an IPv4 address are judged by that address:
    // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64
    // (64:ff9b::a.b.c.d) and 6to4 (2002:AABB:CCDD::).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    if segments[..6] == [0, 0, 0, 0, 0, 0] {
        return false;
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., c, d] = segments;
        return is_public_v4(Ipv4Addr::from((u32::from(c) << 16) | u32::from(d)));
    }
    if segments[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::from(
            (u32::from(segments[1]) << 16) | u32::from(segments[2]),
        ));
    }
    let blocked = ip.is_unspecified()
        || ip.is_loopback()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local, incl. fd00:ec2::254
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] & 0xff00) == 0xff00 // multicast
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] == 0x2001 && segments[1] == 0) // Teredo
        || segments[..4] == [0x100, 0, 0, 0] // discard-only
        || segments[..2] == [0x64, 0xff9b]; // local-use NAT64
    !blocked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for text in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "169.254.170.2",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "192.0.0.192",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:7f00:1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
        ] {
            let ip: IpAddr = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(!is_public(ip), "{text} was judged public");
        }
    }

    #[test]
    fn public_addresses_are_public() {
        for text in [
            "8.8.8.8",
            "1.1.1.1",
            "52.95.110.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(is_public(ip), "{text} was judged not public");
        }
    }

    /// Resolves every name to one fixed address.
    struct FixedResolver(IpAddr);

    #[async_trait]
    impl Resolve for FixedResolver {
        async fn resolve(&self, _host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
            Ok(vec![SocketAddr::new(self.0, port)])
        }
    }

    fn fetcher(resolved: &str) -> Fetcher {
        let ip: IpAddr = resolved.parse().unwrap_or_else(|e| panic!("{e}"));
        Fetcher::new(
            vec!["files.example.com".into()],
            Arc::new(FixedResolver(ip)),
            AddressPolicy::PublicHttps,
            1024,
        )
    }

    async fn rejection(fetcher: &Fetcher, url: &str) -> String {
        let url = url::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        match fetcher.check(&url).await {
            Err(FetchError::Rejected(message)) => message,
            other => panic!("{url} was not rejected: {other:?}"),
        }
    }

    #[tokio::test]
    async fn ip_literals_are_rejected_in_every_spelling() {
        let fetcher = fetcher("8.8.8.8");
        for url in [
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://0x7f000001/",
            "https://0x7f.1/",
            "https://0177.0.0.1/",
            "https://127.1/",
            "https://[::1]/",
            "https://[::ffff:7f00:1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[fd00:ec2::254]/",
        ] {
            let message = rejection(&fetcher, url).await;
            assert!(message.contains("IP address"), "{url}: {message}");
        }
    }

    #[tokio::test]
    async fn names_resolving_inside_are_rejected() {
        for internal in [
            "127.0.0.1",
            "10.0.0.7",
            "169.254.169.254",
            "::ffff:10.0.0.1",
            "fd00:ec2::254",
        ] {
            let message = rejection(&fetcher(internal), "https://files.example.com/a.pdf").await;
            assert!(
                message.contains("not a public address"),
                "{internal}: {message}"
            );
        }
    }

    #[tokio::test]
    async fn other_hosts_and_schemes_are_rejected() {
        let fetcher = fetcher("8.8.8.8");
        for url in [
            "http://files.example.com/a.pdf",
            "ftp://files.example.com/a.pdf",
            "https://evil.example.com/a.pdf",
            "https://files.example.com.evil.example/a.pdf",
            "https://user:pw@files.example.com/a.pdf",
        ] {
            rejection(&fetcher, url).await;
        }
        let url =
            url::Url::parse("https://FILES.example.com/a.pdf").unwrap_or_else(|e| panic!("{e}"));
        assert!(fetcher.check(&url).await.is_ok());
    }
}
