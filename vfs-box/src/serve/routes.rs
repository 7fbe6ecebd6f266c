//! Which box answers a path: `--route /PREFIX=BOX.wasm` (and the positional box for `/`),
//! matched by the longest prefix that ends at a segment boundary, as Spin's `/PREFIX/...`
//! wildcard routes are.

use std::path::PathBuf;

/// `--route /PREFIX=BOX.wasm` as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteArg {
    /// `/api` (no trailing `/`), or `` for the root.
    pub prefix: String,
    /// The box.
    pub wasm: PathBuf,
}

impl std::str::FromStr for RouteArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (prefix, wasm) = s
            .split_once('=')
            .ok_or_else(|| format!("--route {s:?}: expected /PREFIX=BOX.wasm"))?;
        let prefix = prefix.strip_suffix("/...").unwrap_or(prefix);
        if !prefix.starts_with('/') || wasm.is_empty() {
            return Err(format!(
                "--route {s:?}: expected /PREFIX=BOX.wasm (the prefix starts with /)"
            ));
        }
        if prefix.contains(['?', '#', '%']) {
            return Err(format!(
                "--route {s:?}: a prefix is a plain path (no ?, # or %)"
            ));
        }
        Ok(RouteArg {
            prefix: prefix.trim_end_matches('/').to_owned(),
            wasm: PathBuf::from(wasm),
        })
    }
}

/// The routes, longest prefix first.
pub struct Routes<T> {
    routes: Vec<(String, T)>,
}

impl<T> Routes<T> {
    /// Routes from `(prefix, target)`; a prefix given twice is an error naming it.
    pub fn new(mut routes: Vec<(String, T)>) -> Result<Self, String> {
        routes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        for w in routes.windows(2) {
            if w[0].0 == w[1].0 {
                let p = if w[0].0.is_empty() { "/" } else { &w[0].0 };
                return Err(format!("the route {p} is given twice"));
            }
        }
        Ok(Routes { routes })
    }

    /// The target for `path` (as sent, still percent-encoded), its prefix, and the rest of the
    /// path after it; `None` if no route matches.
    pub fn find<'p>(&self, path: &'p str) -> Option<(&T, &str, &'p str)> {
        self.routes.iter().find_map(|(prefix, target)| {
            let rest = path.strip_prefix(prefix.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then_some((target, prefix.as_str(), rest))
        })
    }

    /// How many routes there are.
    pub fn len(&self) -> usize {
        self.routes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_route_args() {
        let r: RouteArg = "/api=a.wasm".parse().unwrap();
        assert_eq!(
            (r.prefix.as_str(), r.wasm.to_str()),
            ("/api", Some("a.wasm"))
        );
        let r: RouteArg = "/api/...=a.wasm".parse().unwrap();
        assert_eq!(r.prefix, "/api");
        let r: RouteArg = "/=root.wasm".parse().unwrap();
        assert_eq!(r.prefix, "");
        assert!("api=a.wasm".parse::<RouteArg>().is_err());
        assert!("/api".parse::<RouteArg>().is_err());
        assert!("/api=".parse::<RouteArg>().is_err());
        assert!("/a%20b=x.wasm".parse::<RouteArg>().is_err());
    }

    #[test]
    fn longest_prefix_at_a_segment_boundary() {
        let r = Routes::new(vec![
            ("".to_owned(), 0),
            ("/api".to_owned(), 1),
            ("/api/v2".to_owned(), 2),
        ])
        .unwrap();
        assert_eq!(r.find("/"), Some((&0, "", "/")));
        assert_eq!(r.find("/apix"), Some((&0, "", "/apix")));
        assert_eq!(r.find("/api"), Some((&1, "/api", "")));
        assert_eq!(r.find("/api/x"), Some((&1, "/api", "/x")));
        assert_eq!(r.find("/api/v2/y"), Some((&2, "/api/v2", "/y")));
        let no_root = Routes::new(vec![("/api".to_owned(), 1)]).unwrap();
        assert_eq!(no_root.find("/other"), None);
        assert!(Routes::new(vec![("/a".to_owned(), 1), ("/a".to_owned(), 2)]).is_err());
    }
}
