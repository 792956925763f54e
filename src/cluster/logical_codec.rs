//! [`NodefusionLogicalCodec`]: nodefusion's logical plan nodes ([`NodeCallNode`],
//! [`ExchangeNode`]) and `top_k`'s table as bytes, around Ballista's own logical codec,
//! which keeps everything else (the file formats of `COPY`, its cache node).

use std::sync::Arc;

use ballista_core::serde::BallistaLogicalExtensionCodec;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{Result, TableReference, plan_datafusion_err, plan_err};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan, ScalarUDF};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::logical_plan::from_proto::parse_expr;
use datafusion_proto::logical_plan::to_proto::serialize_expr;
use nodefusion_udfs::retrieval::{decode_top_k_table, encode_top_k_table};

use super::messages::{
    Body, Envelope, ExchangeMessage, NodeCallMessage, run_settings, settings_message,
};
use crate::plan::{Exchange, ExchangeNode, NodeCallNode};

/// The logical codec of a nodefusion cluster: the client, the scheduler and every executor
/// use it.
#[derive(Debug, Default)]
pub struct NodefusionLogicalCodec {
    ballista: BallistaLogicalExtensionCodec,
}

impl NodefusionLogicalCodec {
    /// The extension a node call message stands for.
    fn node_call(
        &self,
        message: &NodeCallMessage,
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        let [input] = inputs else {
            return plan_err!("NodeCall takes one input, got {}", inputs.len());
        };
        let call = message
            .call
            .as_ref()
            .ok_or_else(|| plan_datafusion_err!("a NodeCall message has no call"))?;
        let call = parse_expr(call, ctx, self)
            .map_err(|error| plan_datafusion_err!("decoding node '{}': {error}", message.node))?;
        let plan = NodeCallNode::plan(
            input.clone(),
            message.node.clone(),
            call,
            message.output.clone(),
            run_settings(&message.settings)?,
            message.dealt_input,
        )?;
        extension_of(plan)
    }
}

/// The extension node of `plan`, one that the node constructors return.
fn extension_of(plan: LogicalPlan) -> Result<Extension> {
    match plan {
        LogicalPlan::Extension(extension) => Ok(extension),
        other => plan_err!("expected an extension node, got {}", other.display()),
    }
}

impl LogicalExtensionCodec for NodefusionLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        match Envelope::decode_body(buf)? {
            Body::Ballista(bytes) => self.ballista.try_decode(&bytes, inputs, ctx),
            Body::NodeCall(message) => self.node_call(&message, inputs, ctx),
            Body::Exchange(message) => {
                let [input] = inputs else {
                    return plan_err!("an exchange takes one input, got {}", inputs.len());
                };
                extension_of(ExchangeNode::plan(
                    input.clone(),
                    Exchange::try_from(&message)?,
                ))
            }
            Body::NodeExec(_)
            | Body::TopK(_)
            | Body::NodeExpression(_)
            | Body::FusedCalls(_)
            | Body::PartWriter(_) => plan_err!("a physical plan node in a logical plan"),
        }
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        let any = node.node.as_any();
        if let Some(call) = any.downcast_ref::<NodeCallNode>() {
            let message = NodeCallMessage {
                node: call.node().to_string(),
                call: Some(serialize_expr(call.call(), self)?),
                output: call.output().to_string(),
                settings: settings_message(&call.settings()),
                dealt_input: call.dealt_input(),
            };
            return Envelope::encode_body(Body::NodeCall(message), buf);
        }
        if let Some(exchange) = any.downcast_ref::<ExchangeNode>() {
            let message = ExchangeMessage::from(exchange.exchange());
            return Envelope::encode_body(Body::Exchange(message), buf);
        }
        let mut bytes = Vec::new();
        self.ballista.try_encode(node, &mut bytes)?;
        Envelope::encode_body(Body::Ballista(bytes), buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match Envelope::decode_body(buf)? {
            Body::TopK(bytes) => decode_top_k_table(&bytes, schema),
            Body::Ballista(bytes) => self
                .ballista
                .try_decode_table_provider(&bytes, table_ref, schema, ctx),
            _ => plan_err!("table '{table_ref}': not a table message"),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(bytes) = encode_top_k_table(node.as_ref()) {
            return Envelope::encode_body(Body::TopK(bytes), buf);
        }
        let mut bytes = Vec::new();
        self.ballista
            .try_encode_table_provider(table_ref, node, &mut bytes)?;
        Envelope::encode_body(Body::Ballista(bytes), buf)
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.ballista.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        self.ballista.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode_udf(node, buf)
    }
}
