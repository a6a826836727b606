// A page that loads the UMD build with a classic <script> and uses its global.
/// <reference path="../../../src/tender/enabler/connector-enabler.d.ts" />

const umdEnabler = new TenderEnabler.Enabler({
  processorUrl: "https://tender.example",
  sessionId: "tnd_ss_example",
});
const umdBuilder: Promise<TenderEnabler.GiftCardBuilder> = umdEnabler.createGiftCardBuilder();
void umdBuilder;
