/**
 * Layer order of the tapped attention, checked on the graph's edges instead of assumed from node order.
 * Layer ℓ+1's attention depends on layer ℓ's output, so the Softmax outputs of one stack form a chain in
 * which each is an ancestor of the next (in a decoder, self ℓ → cross ℓ → self ℓ+1, and each kind on its
 * own is a chain too). `orderLayers` sorts the Softmax outputs by dependency (graph order where the graph is
 * topologically sorted) and says whether each kind is such a chain. Values with no producing node
 * (graph inputs, initializers, outer-scope names in a subgraph) are sources. Pure: no vscode, no DOM.
 */

/** A node as far as the check needs it: the names it reads and writes. */
export interface GraphEdges {
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
}

/**
 * What the check found: 'chain' when, per kind, each Softmax output is an ancestor of the next in graph
 * order; 'reordered' when that holds only after sorting by dependency (the node list was not in layer
 * order); 'unordered' when two of one kind do not depend on each other, so the graph fixes no layer order.
 */
export interface LayerOrderCheck {
  readonly status: 'chain' | 'reordered' | 'unordered';
  /** For 'unordered': the first two outputs, adjacent in the order used, neither of which depends on the other. */
  readonly independent?: readonly [string, string];
}

function producers(nodes: readonly GraphEdges[]): Map<string, number> {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => { for (const o of n.outputs) if (o) producer.set(o, i); });
  return producer;
}

/**
 * Node indices with every producer before its consumers (onnxruntime runs main graphs listed in any order);
 * a list that is already topologically sorted comes back unchanged. Edges that would close a cycle are ignored.
 */
export function topologicalOrder(nodes: readonly GraphEdges[]): number[] {
  const producer = producers(nodes);
  const state = new Uint8Array(nodes.length); // 0 unseen, 1 on the stack, 2 placed
  const out: number[] = [];
  for (let root = 0; root < nodes.length; root++) {
    if (state[root]) continue;
    state[root] = 1;
    const stack: [number, number][] = [[root, 0]]; // node, next input to visit
    while (stack.length) {
      const top = stack[stack.length - 1];
      const inputs = nodes[top[0]].inputs;
      if (top[1] < inputs.length) {
        const p = producer.get(inputs[top[1]++]);
        if (p !== undefined && state[p] === 0) { state[p] = 1; stack.push([p, 0]); }
      } else {
        state[top[0]] = 2;
        out.push(top[0]);
        stack.pop();
      }
    }
  }
  return out;
}

/**
 * Softmax outputs (given in graph order) sorted by dependency (topologicalOrder), so a topologically sorted
 * graph keeps its order, and checked: `kinds` (one per output, e.g. 'self'/'cross') names the stacks whose
 * chains are checked separately; by default all are one stack.
 */
export function orderLayers<K extends string>(nodes: readonly GraphEdges[], softmaxOutputs: readonly string[],
  kinds: readonly K[] = softmaxOutputs.map(() => '' as K)): { order: string[]; kinds: K[]; check: LayerOrderCheck } {
  const index = new Map<string, number>();
  softmaxOutputs.forEach((t, i) => index.set(t, i));
  const placed = new Uint8Array(softmaxOutputs.length);
  const sorted: number[] = [];
  const place = (i: number | undefined) => { if (i !== undefined && !placed[i]) { placed[i] = 1; sorted.push(i); } };
  const topo = topologicalOrder(nodes);
  for (const n of topo) for (const o of nodes[n].outputs) place(index.get(o));
  softmaxOutputs.forEach((_, i) => place(i)); // names no node produces
  const producer = producers(nodes);
  let independent: [string, string] | undefined;
  for (const kind of new Set(kinds)) {
    const chain = sorted.filter((i) => kinds[i] === kind);
    // In one pass over the nodes in dependency order: for each node, the latest chain position among the Softmax
    // outputs of this kind it depends on (-1 for none). Layers come in dependency order, so no later layer can
    // be an ancestor of a node, and layer k is an ancestor of layer k+1 exactly when that position is k for
    // layer k+1's producer. Linear in the graph's edges: a walk back from every layer was quadratic, and a small
    // file with 5,000 Softmax nodes stalled the tap plan for over 10 s.
    const position = new Map<string, number>();
    chain.forEach((t, k) => position.set(softmaxOutputs[t], k));
    const latest = new Int32Array(nodes.length).fill(-1);
    for (const n of topo) {
      let m = -1;
      for (const input of nodes[n].inputs) {
        const k = position.get(input);
        if (k !== undefined && k > m) m = k;
        const p = producer.get(input);
        if (p !== undefined && latest[p] > m) m = latest[p];
      }
      latest[n] = m;
    }
    for (let k = 0; k + 1 < chain.length && !independent; k++) {
      const p = producer.get(softmaxOutputs[chain[k + 1]]);
      if (p === undefined || latest[p] < k) independent = [softmaxOutputs[chain[k]], softmaxOutputs[chain[k + 1]]];
    }
  }
  const moved = sorted.some((s, i) => s !== i);
  const check: LayerOrderCheck = independent ? { status: 'unordered', independent } : { status: moved ? 'reordered' : 'chain' };
  return { order: sorted.map((i) => softmaxOutputs[i]), kinds: sorted.map((i) => kinds[i]), check };
}

/** The less certain of two checks (unordered > reordered > chain); undefined counts as unchecked and yields the other. */
export function worseOrder(a: LayerOrderCheck | undefined, b: LayerOrderCheck | undefined): LayerOrderCheck | undefined {
  const rank = { chain: 0, reordered: 1, unordered: 2 } as const;
  if (!a || !b) return a ?? b;
  return rank[b.status] > rank[a.status] ? b : a;
}

/** The notice the user sees when a file's graph fixes no layer order (status 'unordered'), else undefined. */
export function layerOrderNotice(check: LayerOrderCheck | undefined, file: string): string | undefined {
  if (check?.status !== 'unordered' || !check.independent) return undefined;
  const [a, b] = check.independent;
  return `${file}: the attention Softmax outputs "${a}" and "${b}" do not depend on each other, so the graph does not fix ` +
    'which layer comes first. Attention Lens shows the layers in the order the graph lists them; layer numbers may not ' +
    'match the model\'s layers.';
}
