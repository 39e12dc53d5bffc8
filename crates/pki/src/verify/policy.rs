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

#[cfg(test)]
mod tests {
    use super::*;

    const P1: &str = "1.3.6.1.4.1.99999.1";
    const P2: &str = "1.3.6.1.4.1.99999.2";
    const P3: &str = "1.3.6.1.4.1.99999.3";

    /// Adds a node whose expected_policy_set is its own policy (6.1.3 d 1).
    fn add(t: &mut PolicyTree, parent: usize, policy: &str) -> usize {
        t.add(parent, policy, vec![policy.to_owned()]);
        t.nodes.len() - 1
    }

    /// The valid policies of the live nodes at `depth`, sorted.
    fn policies_at(t: &PolicyTree, depth: usize) -> Vec<String> {
        let mut v: Vec<String> = t
            .at(depth)
            .into_iter()
            .map(|i| t.nodes[i].valid_policy.clone())
            .collect();
        v.sort();
        v
    }

    fn strings(v: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = v.iter().map(|s| (*s).to_owned()).collect();
        v.sort();
        v
    }

    /// 6.1.2 (a): the initial valid_policy_tree is one anyPolicy node at depth 0 whose
    /// expected_policy_set is {anyPolicy}.
    #[test]
    fn initial_tree_is_a_single_any_policy_node() {
        let t = PolicyTree::new();
        assert_eq!(t.at(0), [0]);
        assert_eq!(t.nodes[0].valid_policy, ANY_POLICY);
        assert_eq!(t.nodes[0].expected, [ANY_POLICY]);
        assert_eq!(t.nodes[0].parent, None);
        assert!(t.at(1).is_empty());
    }

    /// 6.1.3 (d)(1): a node added for certificate i sits at depth i, one below its parent;
    /// `at` lists only live nodes of exactly that depth.
    #[test]
    fn child_nodes_sit_one_level_below_their_parent() {
        let mut t = PolicyTree::new();
        let a = add(&mut t, 0, P1);
        let b = add(&mut t, a, P2);
        assert_eq!(t.nodes[a].depth, 1);
        assert_eq!(t.nodes[b].depth, 2);
        assert_eq!(t.nodes[b].parent, Some(a));
        assert_eq!(t.at(1), [a]);
        assert_eq!(t.at(2), [b]);
        t.nodes[a].alive = false;
        assert!(t.at(1).is_empty(), "a deleted node is not at any depth");
        assert!(
            !t.has_children(0),
            "a deleted node is nobody's child (6.1.3 d 3 pruning counts live nodes)"
        );
    }

    /// 6.1.4 (b)(2)(i) / 6.1.5 (g)(iii)(2): deleting a node deletes the whole subtree
    /// below it, and nothing beside it.
    #[test]
    fn kill_deletes_the_subtree_and_only_it() {
        let mut t = PolicyTree::new();
        let a = add(&mut t, 0, P1);
        let a1 = add(&mut t, a, P1);
        let a11 = add(&mut t, a1, P1);
        let b = add(&mut t, 0, P2);
        let b1 = add(&mut t, b, P2);
        t.kill(a);
        for i in [a, a1, a11] {
            assert!(!t.nodes[i].alive, "node {i} below the deleted one");
        }
        for i in [0, b, b1] {
            assert!(t.nodes[i].alive, "node {i} beside the deleted one");
        }
    }

    /// 6.1.3 (d)(3): nodes above the current depth without children are deleted,
    /// bottom-up, so a chain of childless nodes dies all the way to the root; nodes at
    /// the current depth itself stay.
    #[test]
    fn prune_deletes_childless_nodes_bottom_up() {
        let mut t = PolicyTree::new();
        let a = add(&mut t, 0, P1);
        let a1 = add(&mut t, a, P1);
        let b = add(&mut t, 0, P2);
        assert!(
            t.prune(2),
            "the root still has a live descendant at depth 2"
        );
        assert!(
            t.nodes[a1].alive,
            "depth-2 leaves are not pruned at depth 2"
        );
        assert!(t.nodes[a].alive);
        assert!(!t.nodes[b].alive, "b has no child at depth 2");

        let mut t = PolicyTree::new();
        let a = add(&mut t, 0, P1);
        assert!(
            !t.prune(2),
            "a's missing child kills a, and then the root (bottom-up)"
        );
        assert!(!t.nodes[a].alive && !t.nodes[0].alive);
    }

    /// 6.1.4 (h)-(j) and 6.1.5 (a): the explicit_policy, policy_mapping and
    /// inhibit_anyPolicy counters count down by one and stop at zero.
    #[test]
    fn counters_count_down_to_zero_and_stay() {
        let mut v = 2;
        dec(&mut v);
        assert_eq!(v, 1);
        dec(&mut v);
        assert_eq!(v, 0);
        dec(&mut v);
        assert_eq!(v, 0);
    }

    /// 6.1.5 (g)(ii): when the user-initial-policy-set is any-policy (empty, or holding
    /// anyPolicy) the intersection is the tree itself.
    #[test]
    fn any_policy_initial_set_leaves_the_tree_alone() {
        for initial in [vec![], vec![ANY_POLICY.to_owned(), P2.to_owned()]] {
            let mut t = PolicyTree::new();
            add(&mut t, 0, P1);
            intersect_policies(&mut t, &initial, 1);
            assert_eq!(policies_at(&t, 1), strings(&[P1]), "initial {initial:?}");
        }
    }

    /// 6.1.5 (g)(iii)(2): a node of the valid_policy_node_set whose policy is not in the
    /// user-initial-policy-set is deleted.
    #[test]
    fn policies_outside_the_initial_set_are_deleted() {
        let mut t = PolicyTree::new();
        let p1 = add(&mut t, 0, P1);
        let p2 = add(&mut t, 0, P2);
        intersect_policies(&mut t, &[P1.to_owned()], 1);
        assert!(t.nodes[p1].alive);
        assert!(!t.nodes[p2].alive);
        assert_eq!(policies_at(&t, 1), strings(&[P1]));
    }

    /// 6.1.5 (g)(iii)(1): the valid_policy_node_set holds only the children of anyPolicy
    /// nodes; a node below a specific policy (here P3, mapped from P1) is judged by that
    /// ancestor, which is in the initial set, so it stays.
    #[test]
    fn only_children_of_any_policy_are_compared_with_the_initial_set() {
        let mut t = PolicyTree::new();
        let p1 = add(&mut t, 0, P1);
        let p3 = add(&mut t, p1, P3);
        intersect_policies(&mut t, &[P1.to_owned()], 2);
        assert!(t.nodes[p3].alive, "P3 hangs below the accepted P1");
        assert_eq!(policies_at(&t, 2), strings(&[P3]));
    }

    /// 6.1.5 (g)(iii)(3): an anyPolicy leaf at depth n is replaced by one node per policy
    /// of the initial set not already in the valid_policy_node_set, under the same parent.
    #[test]
    fn any_policy_leaf_becomes_the_missing_initial_policies() {
        let mut t = PolicyTree::new();
        let any = add(&mut t, 0, ANY_POLICY);
        add(&mut t, 0, P1);
        intersect_policies(&mut t, &[P1.to_owned(), P2.to_owned()], 1);
        assert!(!t.nodes[any].alive, "the anyPolicy leaf is deleted");
        assert_eq!(
            policies_at(&t, 1),
            strings(&[P1, P2]),
            "P1 once (already present), P2 added"
        );
        let p2 = t
            .at(1)
            .into_iter()
            .find(|i| t.nodes[*i].valid_policy == P2)
            .expect("P2 node");
        assert_eq!(t.nodes[p2].parent, Some(0));
        assert_eq!(t.nodes[p2].expected, [P2]);
    }

    /// 6.1.5 (g)(iii)(4): after the intersection, nodes left without children are pruned
    /// (an anyPolicy branch at depth 1 whose only leaf was removed dies).
    #[test]
    fn intersection_prunes_what_it_leaves_childless() {
        let mut t = PolicyTree::new();
        let any = add(&mut t, 0, ANY_POLICY);
        let p2 = add(&mut t, any, P2);
        intersect_policies(&mut t, &[P1.to_owned()], 2);
        assert!(
            !t.nodes[p2].alive,
            "P2 (child of anyPolicy) is not in {{P1}}"
        );
        assert!(
            !t.nodes[any].alive,
            "the anyPolicy node lost its only child"
        );
        assert!(!t.nodes[0].alive, "and with it the root");
    }
}
