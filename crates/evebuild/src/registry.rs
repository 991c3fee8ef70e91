//! # Registries: pulling, pushing, and a registry as the team's shared cache
//!
//! With `--registry <host>[/<prefix>]`, packages are looked up in that registry before they are
//! built: `docker.io/lfedge/eve-pillar:<tag>-amd64` is fetched as
//! `<host>[/<prefix>]/lfedge/eve-pillar:<tag>-amd64` and named in the store under its usual
//! name, so a package one machine built and pushed is never rebuilt by another. `--push`
//! publishes every package a build used (each architecture's image and the multi-arch index)
//! to that registry.
//!
//! Credentials come from `~/.docker/config.json` (and its credential helpers); localhost
//! registries are spoken to over plain HTTP, others over HTTPS unless `--insecure`.

use anyhow::{Context as _, Result};
use evebuild_oci::{
    ClientOptions, Keychain, Platform, PullOptions, PushOptions, Reference, RegistryClient, Store,
};

/// A registry and how to talk to it.
#[derive(Debug, Clone)]
pub struct Remote {
    /// `host[:port][/prefix]`.
    pub base: String,
    /// Plain HTTP for every registry.
    pub insecure: bool,
}

impl Remote {
    /// A client for the registry, with the user's credentials.
    pub fn client(&self) -> Result<RegistryClient> {
        client(self.insecure)
    }

    /// Where `local` (a store name like `docker.io/lfedge/eve-x:t`) lives in this registry.
    pub fn map(&self, local: &Reference) -> Result<Reference> {
        let tag = local.tag().unwrap_or("latest");
        let s = format!(
            "{}/{}:{tag}",
            self.base.trim_end_matches('/'),
            local.repository()
        );
        Reference::parse(&s).with_context(|| format!("registry reference {s:?}"))
    }

    /// Fetches `local`'s image for `platform` from this registry into the store under
    /// `local`'s name. `Ok(false)` when the registry does not have it.
    pub fn fetch(
        &self,
        store: &Store,
        local: &Reference,
        platform: &Platform,
        jobs: usize,
    ) -> Result<bool> {
        let remote = self.map(local)?;
        let client = self.client()?;
        let mut opts = PullOptions::new(platform.clone());
        opts.force = true;
        opts.jobs = jobs;
        match evebuild_oci::pull(store, &client, &remote, &opts) {
            Ok(image) => {
                store.tag(local, image.manifest_descriptor.clone())?;
                Ok(true)
            }
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e).with_context(|| format!("fetching {remote}")),
        }
    }

    /// Pushes the store's `local` to this registry; returns the remote name.
    pub fn publish(&self, store: &Store, local: &Reference, jobs: usize) -> Result<Reference> {
        let remote = self.map(local)?;
        let opts = PushOptions {
            jobs,
            ..Default::default()
        };
        evebuild_oci::push(store, &self.client()?, local, &remote, &opts)
            .with_context(|| format!("pushing {local} to {remote}"))?;
        Ok(remote)
    }
}

/// A registry client with the user's credentials.
pub fn client(insecure: bool) -> Result<RegistryClient> {
    let keychain = Keychain::from_docker_config().context("reading ~/.docker/config.json")?;
    Ok(RegistryClient::new(ClientOptions { keychain, insecure })?)
}
