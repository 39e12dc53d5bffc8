//! The certificate policy tree of RFC 5280 6.1 and its intersection with the initial
//! policy set.

use super::*;

pub(super) struct PolicyNode {
    pub(super) valid_policy: String,
    pub(super) expected: Vec<String>,
    pub(super) parent: Option<usize>,
    pub(super) depth: usize,
    pub(super) alive: bool,
}

pub(super) struct PolicyTree {
    pub(super) nodes: Vec<PolicyNode>,
}

impl PolicyTree {
    pub(super) fn new() -> Self {
        PolicyTree {
            nodes: vec![PolicyNode {
                valid_policy: ANY_POLICY.into(),
                expected: vec![ANY_POLICY.into()],
                parent: None,
                depth: 0,
                alive: true,
            }],
        }
    }

    pub(super) fn at(&self, depth: usize) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].alive && self.nodes[*i].depth == depth)
            .collect()
    }

    pub(super) fn add(&mut self, parent: usize, policy: &str, expected: Vec<String>) {
        let depth = self.nodes[parent].depth + 1;
        self.nodes.push(PolicyNode {
            valid_policy: policy.to_owned(),
            expected,
            parent: Some(parent),
            depth,
            alive: true,
        });
    }

    pub(super) fn has_children(&self, i: usize) -> bool {
        self.nodes.iter().any(|n| n.alive && n.parent == Some(i))
    }

    pub(super) fn kill(&mut self, i: usize) {
        self.nodes[i].alive = false;
        for j in 0..self.nodes.len() {
            if self.nodes[j].alive && self.nodes[j].parent == Some(i) {
                self.kill(j);
            }
        }
    }

    /// Removes childless nodes above `depth`, bottom-up. Returns false when the root died.
    pub(super) fn prune(&mut self, depth: usize) -> bool {
        for d in (0..depth).rev() {
            for i in self.at(d) {
                if !self.has_children(i) {
                    self.nodes[i].alive = false;
                }
            }
        }
        self.nodes[0].alive
    }
}

pub(super) fn dec(v: &mut usize) {
    *v = v.saturating_sub(1);
}

/// 6.1.5 (g): intersect the tree with the user-initial-policy-set.
pub(super) fn intersect_policies(t: &mut PolicyTree, initial: &[String], n: usize) {
    if initial.is_empty() || initial.iter().any(|p| p == ANY_POLICY) {
        return;
    }
    // valid_policy_node_set: nodes whose parent's valid_policy is anyPolicy.
    let set: Vec<usize> = (0..t.nodes.len())
        .filter(|i| {
            t.nodes[*i].alive
                && t.nodes[*i]
                    .parent
                    .is_some_and(|p| t.nodes[p].valid_policy == ANY_POLICY)
        })
        .collect();
    for &i in &set {
        let vp = &t.nodes[i].valid_policy;
        if vp != ANY_POLICY && !initial.contains(vp) {
            t.kill(i);
        }
    }
    let any_leaves: Vec<usize> = t
        .at(n)
        .into_iter()
        .filter(|i| t.nodes[*i].valid_policy == ANY_POLICY)
        .collect();
    for any in any_leaves {
        let parent = t.nodes[any].parent.unwrap_or(0);
        for p in initial {
            let present = set
                .iter()
                .any(|i| t.nodes[*i].alive && &t.nodes[*i].valid_policy == p);
            if !present {
                t.add(parent, p, vec![p.clone()]);
            }
        }
        t.kill(any);
    }
    t.prune(n);
}
