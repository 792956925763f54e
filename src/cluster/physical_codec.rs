//! [`NodefusionPhysicalCodec`]: nodefusion's operators ([`NodeExec`], [`RechunkExec`],
//! [`ScatterExec`], [`GatherExec`], [`PartWriterExec`]) and `top_k`'s as bytes, around Ballista's own physical
//! codec, which keeps everything else (its shuffle writers and readers). Of expressions, a
//! node's ([`NodeExpression`]) and fused calls ([`LoweredClassReplacement`]) are ours.
//!
//! A node's function travels by name and is found again in the registry of the process
//! that decodes it: a cluster's processes all register every nodefusion function.

use std::sync::Arc;

use ballista_core::serde::BallistaPhysicalExtensionCodec;
use datafusion::arrow::datatypes::Field;
use datafusion::common::{Result, ScalarValue, plan_datafusion_err, plan_err};
use datafusion::execution::{FunctionRegistry, TaskContext};
use datafusion::logical_expr::ScalarUDF;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr_common::physical_expr::proto_decode::PhysicalExprDecodeCtx;
use datafusion::physical_expr_common::physical_expr::proto_encode::PhysicalExprEncodeCtx;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{
    PhysicalExtensionCodec, PhysicalPlanDecodeContext, PhysicalProtoConverterExtension,
};
use datafusion_proto::protobuf;
use nodefusion_function::{InitOptions, OperatorFunction, operator_function};
use nodefusion_udfs::retrieval::{decode_top_k_exec, encode_top_k_exec};
use nodefusion_udfs::text::LoweredClassReplacement;

use super::messages::{
    Body, ConstantMessage, Envelope, ExchangeMessage, FusedCallsMessage, NodeExecMessage,
    PartWriterMessage, run_settings, settings_message,
};
use super::part_writer::PartWriterExec;
use crate::exec::{GatherExec, NodeExec, NodeExpression, NodeSpec, RechunkExec, ScatterExec};
use crate::plan::Exchange;

/// The physical codec of a nodefusion cluster: the client, the scheduler and every
/// executor use it.
#[derive(Default)]
pub struct NodefusionPhysicalCodec {
    ballista: BallistaPhysicalExtensionCodec,
    /// The scheduler's: how many executors are alive, given to each node operator it
    /// decodes (so that the executors share the providers' rate limits).
    executors: Option<ExecutorCount>,
}

/// How many executors a cluster has alive now.
pub type ExecutorCount = Arc<dyn Fn() -> usize + Send + Sync>;

impl NodefusionPhysicalCodec {
    /// The scheduler's codec, which gives each node operator the number of executors
    /// `executors` counts.
    pub fn counting_executors(executors: ExecutorCount) -> Self {
        Self {
            ballista: BallistaPhysicalExtensionCodec::default(),
            executors: Some(executors),
        }
    }
}

impl std::fmt::Debug for NodefusionPhysicalCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodefusionPhysicalCodec")
            .field("counts_executors", &self.executors.is_some())
            .finish_non_exhaustive()
    }
}

/// The one input of a single-input operator.
fn only_input(operator: &str, inputs: &[Arc<dyn ExecutionPlan>]) -> Result<Arc<dyn ExecutionPlan>> {
    match inputs {
        [input] => Ok(Arc::clone(input)),
        _ => plan_err!("{operator} takes one input, got {}", inputs.len()),
    }
}

impl NodefusionPhysicalCodec {
    fn encode_node(
        &self,
        spec: &NodeSpec,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<NodeExecMessage> {
        if let OperatorFunction::Isolated(function) = &spec.function {
            return plan_err!(
                "node '{}' runs {}, which a cluster's executors cannot run (they have no \
                 Python): run the pipeline here, or give the node a native equal",
                spec.node,
                function.origin()
            );
        }
        let arguments = spec
            .arguments
            .iter()
            .map(|argument| proto_converter.physical_expr_to_proto(argument, self))
            .collect::<Result<Vec<_>>>()?;
        let constants = spec
            .constants
            .constants
            .iter()
            .map(|constant| {
                Ok(ConstantMessage {
                    value: constant
                        .as_ref()
                        .map(protobuf::ScalarValue::try_from)
                        .transpose()?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(NodeExecMessage {
            node: spec.node.clone(),
            function: spec.function.meta().name().to_string(),
            arguments,
            constants,
            threads: spec.constants.threads.map(|threads| threads as u64),
            output: Some(protobuf::Field::try_from(spec.output.as_ref())?),
            settings: settings_message(&spec.settings),
            dealt_input: spec.dealt_input,
            executors: spec.executors.map(|executors| executors as u64),
        })
    }

    fn decode_node(
        &self,
        message: &NodeExecMessage,
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = only_input("NodeExec", inputs)?;
        let node = &message.node;
        let udf = ctx.udf(&message.function).map_err(|_| {
            plan_datafusion_err!(
                "node '{node}': this process has no function '{}' (start every process of \
                 a cluster with `nodefusion cluster`, which registers every nodefusion function)",
                message.function
            )
        })?;
        let function = operator_function(&udf).ok_or_else(|| {
            plan_datafusion_err!(
                "node '{node}': '{}' is not a node function",
                message.function
            )
        })?;
        let schema = input.schema();
        let decode_context = PhysicalPlanDecodeContext::new(ctx, self);
        let arguments = message
            .arguments
            .iter()
            .map(|argument| {
                proto_converter.proto_to_physical_expr(argument, &schema, &decode_context)
            })
            .collect::<Result<Vec<_>>>()?;
        let constants = message
            .constants
            .iter()
            .map(|constant| {
                constant
                    .value
                    .as_ref()
                    .map(ScalarValue::try_from)
                    .transpose()
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|error| plan_datafusion_err!("node '{node}': a constant: {error}"))?;
        let output = message
            .output
            .as_ref()
            .ok_or_else(|| plan_datafusion_err!("node '{node}': no output column"))?;
        let spec = NodeSpec {
            node: node.clone(),
            function,
            arguments,
            constants: InitOptions {
                constants,
                threads: message.threads.map(|threads| threads as usize),
                precision: None,
            },
            output: Arc::new(Field::try_from(output).map_err(|error| {
                plan_datafusion_err!("node '{node}': its output column: {error}")
            })?),
            settings: run_settings(&message.settings)?,
            dealt_input: message.dealt_input,
            // The scheduler counts the executors; the others take its count.
            executors: match &self.executors {
                Some(count) => Some(count()),
                None => message.executors.map(|executors| executors as usize),
            },
        };
        Ok(Arc::new(NodeExec::new(input, Arc::new(spec))))
    }
}

impl PhysicalExtensionCodec for NodefusionPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match Envelope::decode_body(buf)? {
            Body::Ballista(bytes) => self
                .ballista
                .try_decode(&bytes, inputs, ctx, proto_converter),
            Body::NodeExec(message) => self.decode_node(&message, inputs, ctx, proto_converter),
            Body::Exchange(message) => {
                let input = only_input("an exchange", inputs)?;
                Ok(match Exchange::try_from(&message)? {
                    Exchange::Rechunk { batch_size } => {
                        Arc::new(RechunkExec::new(input, batch_size))
                    }
                    Exchange::Scatter { partitions } => {
                        Arc::new(ScatterExec::try_new(input, partitions)?)
                    }
                    Exchange::Gather => Arc::new(GatherExec::new(input)),
                })
            }
            Body::TopK(bytes) => decode_top_k_exec(&bytes, inputs),
            Body::PartWriter(message) => Ok(Arc::new(
                message.writer(only_input("a part writer", inputs)?),
            )),
            Body::NodeCall(_) => plan_err!("a logical plan node in a physical plan"),
            Body::NodeExpression(_) | Body::FusedCalls(_) => {
                plan_err!("an expression where a plan node was expected")
            }
        }
    }

    fn try_decode_expr(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn PhysicalExpr>],
        ctx: &PhysicalExprDecodeCtx<'_>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        match Envelope::decode_body(buf)? {
            Body::NodeExpression(node) => match inputs {
                [inner] => Ok(Arc::new(NodeExpression::new(node, Arc::clone(inner)))),
                _ => plan_err!("node '{node}': its expression has one child"),
            },
            Body::FusedCalls(_) => match inputs {
                [calls] => Ok(LoweredClassReplacement::fuse_within(calls).data),
                _ => plan_err!("fused calls have one child, got {}", inputs.len()),
            },
            Body::Ballista(bytes) => self.ballista.try_decode_expr(&bytes, inputs, ctx),
            _ => plan_err!("a plan node where an expression was expected"),
        }
    }

    fn try_encode_expr(
        &self,
        node: &Arc<dyn PhysicalExpr>,
        buf: &mut Vec<u8>,
        ctx: &PhysicalExprEncodeCtx<'_>,
    ) -> Result<()> {
        if let Some(expression) = node.downcast_ref::<NodeExpression>() {
            let body = Body::NodeExpression(expression.node().to_string());
            return Envelope::encode_body(body, buf);
        }
        if node.downcast_ref::<LoweredClassReplacement>().is_some() {
            return Envelope::encode_body(Body::FusedCalls(FusedCallsMessage {}), buf);
        }
        let mut bytes = Vec::new();
        self.ballista.try_encode_expr(node, &mut bytes, ctx)?;
        Envelope::encode_body(Body::Ballista(bytes), buf)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(exec) = node.downcast_ref::<NodeExec>() {
            let message = self.encode_node(exec.spec(), proto_converter)?;
            return Envelope::encode_body(Body::NodeExec(message), buf);
        }
        let exchange = if let Some(rechunk) = node.downcast_ref::<RechunkExec>() {
            Some(Exchange::Rechunk {
                batch_size: rechunk.batch_size(),
            })
        } else if let Some(scatter) = node.downcast_ref::<ScatterExec>() {
            Some(Exchange::Scatter {
                partitions: scatter.partitions(),
            })
        } else {
            node.downcast_ref::<GatherExec>().map(|_| Exchange::Gather)
        };
        if let Some(exchange) = exchange {
            return Envelope::encode_body(Body::Exchange(ExchangeMessage::from(exchange)), buf);
        }
        if let Some(bytes) = encode_top_k_exec(node.as_ref()) {
            return Envelope::encode_body(Body::TopK(bytes), buf);
        }
        if let Some(writer) = node.downcast_ref::<PartWriterExec>() {
            let message = PartWriterMessage::from(writer);
            return Envelope::encode_body(Body::PartWriter(message), buf);
        }
        let mut bytes = Vec::new();
        self.ballista
            .try_encode(node, &mut bytes, proto_converter)?;
        Envelope::encode_body(Body::Ballista(bytes), buf)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        self.ballista.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode_udf(node, buf)
    }
}
