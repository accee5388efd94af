import { onnx } from '@ringtrain/proto';

/**
 * Returns the model with the named intermediate values added as graph outputs, so that a session
 * can return them. The values keep their float type and get no fixed shape.
 *
 * @throws Error naming the value when no node of the model produces it
 */
export function exposeValues(bytes: Uint8Array, names: readonly string[], where: string): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const produced = new Set(graph.node.flatMap((node) => node.output));
  const outputs = new Set(graph.output.map((o) => o.name));
  for (const name of names) {
    if (!produced.has(name)) {
      const blocks = [...produced].filter((v) => /^h\d+\/resid_mlp$/.test(v)).length;
      throw new Error(
        `${where} has no value '${name}'. distill.hiddenTeacher names blocks of a ringtrain GPT teacher, ` +
          `and this teacher has ${blocks} of them${blocks > 0 ? ` (0 to ${blocks - 1})` : ''}`,
      );
    }
    if (outputs.has(name)) continue;
    outputs.add(name);
    graph.output.push(
      onnx.ValueInfoProto.fromPartial({ name, type: { tensorType: { elemType: onnx.TensorProto_DataType.FLOAT } } }),
    );
  }
  return onnx.ModelProto.encode(model).finish();
}
