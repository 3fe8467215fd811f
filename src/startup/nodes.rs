//! Startup step: start the nodes — one [`XrayGateway`] per `[[nodes]]` entry,
//! or the in-memory sandbox node when none is configured. Gateways connect
//! lazily, so an unreachable node does not stop the start.

use std::collections::HashMap;
use std::sync::Arc;

use subvisor_actors::domain::NodeName;
use subvisor_actors::links::LinkBook;
use subvisor_actors::provisioning::{
    DriftBook, DriftChecker, NodeClient, NodeEvent, Provisioner, SandboxNode, XrayGateway,
};
use tokio::sync::mpsc;

use crate::config::Settings;

/// What the started nodes give the rest of the program.
pub(super) struct Nodes {
    /// Provisions keys on every node.
    pub provisioner: Provisioner,
    /// The nodes' link parameters and the subscription base URL.
    pub links: LinkBook,
    /// Restarts and recoveries each gateway reports (for that node's worker).
    pub events: HashMap<NodeName, mpsc::UnboundedReceiver<NodeEvent>>,
    /// The nodes' drift from `[[nodes]]`, for `/ops/nodes`.
    pub drift: DriftBook,
    /// Fills `drift` at start and every `reconcile.interval` (real nodes only).
    pub drift_checker: Option<DriftChecker>,
}

pub(super) fn start_nodes(settings: &Settings) -> anyhow::Result<Nodes> {
    let node_configs = settings.nodes()?;
    let mut events = HashMap::new();
    let nodes: Vec<Arc<dyn NodeClient>> = if node_configs.is_empty() {
        tracing::warn!(
            "no [[nodes]] configured: using the in-memory sandbox node; keys are not provisioned on any real server"
        );
        vec![Arc::new(SandboxNode::new())]
    } else {
        let mut nodes: Vec<Arc<dyn NodeClient>> = Vec::new();
        for node in &node_configs {
            tracing::info!(node = %node.name, api = %node.api, flavor = ?node.api_flavor, "starting node gateway");
            let (node_events, received) = mpsc::unbounded_channel();
            events.insert(node.name.clone(), received);
            nodes.push(Arc::new(XrayGateway::start(
                node,
                settings.gateway_settings(),
                node_events,
            )?));
        }
        nodes
    };
    let links = LinkBook {
        nodes: node_configs.iter().map(|n| n.link.clone()).collect(),
        public_url: settings
            .subscription
            .public_url
            .trim_end_matches('/')
            .to_owned(),
    };
    let drift = DriftBook::default();
    let drift_checker = if node_configs.is_empty() {
        None
    } else {
        Some(DriftChecker::new(
            &node_configs,
            settings.gateway.call_timeout,
            settings.reconcile.interval,
            drift.clone(),
        )?)
    };
    Ok(Nodes {
        provisioner: Provisioner::new(nodes),
        links,
        events,
        drift,
        drift_checker,
    })
}
