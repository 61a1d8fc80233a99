// face-api.js 0.22.2 itself (tfjs-core 1.7, CPU backend) on grey crops, for bench/external_member.py's parity check.
// usage: NODE_PATH=<folder with node_modules/face-api.js> node bench/external_member_parity.js MODEL_DIR CROPS.u8 SIDE OUT.json
const fs = require('fs');
const faceapi = require('face-api.js');
const tf = faceapi.tf;
(async () => {
  const [dir, cropsPath, sideArg, outPath] = process.argv.slice(2);
  const manifest = JSON.parse(fs.readFileSync(`${dir}/face_expression_model-weights_manifest.json`));
  const buf = fs.readFileSync(`${dir}/face_expression_model.bin`);
  const weights = manifest.flatMap((group) => group.weights);
  faceapi.nets.faceExpressionNet.loadFromWeightMap(
    tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength), weights));
  const side = Number(sideArg);
  const raw = fs.readFileSync(cropsPath);
  const probs = [];
  for (let i = 0; i < raw.length / (side * side); i++) {
    const grey = tf.tensor3d(Array.from(raw.subarray(i * side * side, (i + 1) * side * side)), [side, side, 1], 'int32');
    const p = await faceapi.nets.faceExpressionNet.forward(tf.tile(grey, [1, 1, 3]));
    probs.push(Array.from(await p.data()));
  }
  fs.writeFileSync(outPath, JSON.stringify(probs));
})();
