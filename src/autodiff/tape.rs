//! The tape: a record of the ops of one forward pass, and the reverse sweep
//! that turns it into gradients.
//!
//! Every op on a [`Var`] computes its value eagerly (a [`Tensor`] op) and
//! pushes a node naming its inputs and what its backward rule needs. Nodes
//! are only ever appended, so a node's inputs always precede it and the
//! reverse sweep is a walk from the loss back to the start.

use std::cell::RefCell;
use std::sync::Arc;

use super::backward::{self, Op};
use crate::tensor::{Float, Shape, Tensor};
use crate::{Result, shape_err};

pub(crate) struct Node<T: Float> {
    pub value: Tensor<T>,
    pub op: Op<T>,
    /// Whether any leaf that wants a gradient reaches this node.
    pub needs_grad: bool,
}

/// A record of operations, for one forward/backward pass.
pub struct Tape<T: Float> {
    nodes: RefCell<Vec<Node<T>>>,
}

impl<T: Float> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A tensor recorded on a tape. Cheap to copy; ops on it record new nodes.
#[derive(Clone, Copy)]
pub struct Var<'t, T: Float> {
    pub(crate) tape: &'t Tape<T>,
    pub(crate) id: usize,
}

impl<T: Float> std::fmt::Debug for Var<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Var#{} {:?}", self.id, self.value())
    }
}

impl<T: Float> Tape<T> {
    pub fn new() -> Self {
        Tape { nodes: RefCell::new(Vec::with_capacity(256)) }
    }

    /// A leaf whose gradient is wanted (a parameter or an input to
    /// differentiate with respect to).
    pub fn var(&self, value: Tensor<T>) -> Var<'_, T> {
        self.push(value, Op::Leaf, true)
    }

    /// A leaf treated as a constant (data): no gradient flows into it.
    pub fn constant(&self, value: Tensor<T>) -> Var<'_, T> {
        self.push(value, Op::Leaf, false)
    }

    /// Number of recorded nodes.
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn push(&self, value: Tensor<T>, op: Op<T>, needs_grad: bool) -> Var<'_, T> {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(Node { value, op, needs_grad });
        Var { tape: self, id: nodes.len() - 1 }
    }

    /// Records an op whose value is already computed; it needs a gradient
    /// when any of `inputs` does.
    pub(crate) fn record(&self, value: Tensor<T>, op: Op<T>) -> Var<'_, T> {
        let needs_grad = {
            let nodes = self.nodes.borrow();
            op.inputs().iter().any(|&i| nodes[i].needs_grad)
        };
        self.push(value, op, needs_grad)
    }

    pub(crate) fn value(&self, id: usize) -> Tensor<T> {
        self.nodes.borrow()[id].value.clone()
    }

    pub(crate) fn needs_grad(&self, id: usize) -> bool {
        self.nodes.borrow()[id].needs_grad
    }

    /// Records a user-defined op: `value` was computed from `inputs`, and
    /// `rule(inputs, output, grad_output)` returns one gradient per input
    /// (`None` for inputs that need none).
    pub fn custom<'t, F>(&'t self, inputs: &[Var<'t, T>], value: Tensor<T>, rule: F) -> Var<'t, T>
    where
        F: Fn(&[Tensor<T>], &Tensor<T>, &Tensor<T>) -> Result<Vec<Option<Tensor<T>>>> + 'static,
    {
        let ids = inputs.iter().map(|v| v.id).collect();
        self.record(value, Op::Custom { inputs: ids, rule: Arc::new(rule) })
    }

    /// Gradients of the scalar `loss` with respect to every recorded node
    /// that a gradient-wanting leaf reaches.
    pub fn backward(&self, loss: Var<'_, T>) -> Result<Grads<T>> {
        let nodes = self.nodes.borrow();
        let root = &nodes[loss.id];
        if root.value.numel() != 1 {
            shape_err!("backward needs a scalar loss, got shape {}", root.value.shape());
        }
        let _reverse_sweep = crate::backend::profile::backward_scope();
        let mut grads: Vec<Option<Tensor<T>>> = vec![None; loss.id + 1];
        grads[loss.id] = Some(root.value.full_like(T::ONE)?);
        for id in (0..=loss.id).rev() {
            let node = &nodes[id];
            if !node.needs_grad || matches!(node.op, Op::Leaf) {
                continue;
            }
            let Some(gy) = grads[id].take() else { continue };
            let inputs = node.op.inputs();
            let wanted: Vec<bool> = inputs.iter().map(|&i| nodes[i].needs_grad).collect();
            let input_grads = backward::backward(&node.op, &nodes, &node.value, &gy, &wanted)?;
            for ((&i, g), w) in inputs.iter().zip(input_grads).zip(wanted) {
                let Some(g) = g else { continue };
                if !w {
                    continue;
                }
                if g.shape() != nodes[i].value.shape() {
                    shape_err!(
                        "internal: gradient of shape {} for a value of shape {} ({})",
                        g.shape(),
                        nodes[i].value.shape(),
                        node.op.name()
                    );
                }
                grads[i] = Some(match grads[i].take() {
                    Some(acc) => acc.add(&g)?,
                    None => g,
                });
            }
        }
        // Intermediate gradients were taken (and freed) on the way; what is
        // left are the leaves'.
        Ok(Grads { grads })
    }
}

/// The result of [`Tape::backward`]: gradients by variable.
pub struct Grads<T: Float> {
    grads: Vec<Option<Tensor<T>>>,
}

impl<T: Float> Grads<T> {
    /// The gradient of `v`, if the loss depends on it.
    pub fn get(&self, v: Var<'_, T>) -> Option<&Tensor<T>> {
        self.grads.get(v.id).and_then(|g| g.as_ref())
    }
    /// The gradient of `v`, or zeros of its shape when the loss does not depend on it.
    pub fn get_or_zeros(&self, v: Var<'_, T>) -> Result<Tensor<T>> {
        match self.get(v) {
            Some(g) => Ok(g.clone()),
            None => v.value().zeros_like(),
        }
    }
    /// Takes ownership of `v`'s gradient.
    pub fn take(&mut self, v: Var<'_, T>) -> Option<Tensor<T>> {
        self.grads.get_mut(v.id).and_then(|g| g.take())
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// The recorded value.
    pub fn value(&self) -> Tensor<T> {
        self.tape.value(self.id)
    }
    pub fn shape(&self) -> Shape {
        self.tape.nodes.borrow()[self.id].value.shape().clone()
    }
    pub fn tape(&self) -> &'t Tape<T> {
        self.tape
    }
    /// Whether a gradient flows into this variable.
    pub fn needs_grad(&self) -> bool {
        self.tape.needs_grad(self.id)
    }
}
