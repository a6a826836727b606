// A checkout using the enabler by its documented API. `tsc` must accept every line, and each
// line marked as an expected error must really be one: the types are strict where the seed is.
import Enabler, {
  type BalanceType,
  type EnablerError,
  type GiftCardComponent,
  type GiftCardEventMap,
  type PaymentResult,
  Enabler as NamedEnabler,
} from "../../../src/tender/enabler/connector-enabler";

const enabler = new Enabler({
  processorUrl: "https://tender.example/",
  sessionId: "tnd_ss_example",
  locale: "de",
  onComplete: (result: PaymentResult) => {
    if (result.isSuccess) {
      const reference: string = result.paymentReference;
      void reference;
    }
  },
  onError: (error: EnablerError) => {
    const code: string = error.code;
    const status: number | undefined = error.statusCode;
    void code;
    void status;
  },
});
void new NamedEnabler({ processorUrl: "https://tender.example", sessionId: "s" });

// @ts-expect-error the session id is required
void new Enabler({ processorUrl: "https://tender.example" });

async function checkout(): Promise<void> {
  const builder = await enabler.createGiftCardBuilder();
  await enabler.createGiftCardBuilder("giftcard");
  const component: GiftCardComponent = builder.build({
    onGiftCardReady: async () => {},
    onGiftCardSubmit: () => Promise.resolve(),
    onChange: (isDirty: boolean) => void isDirty,
    onValueChange: async (hasValue: boolean) => void hasValue,
    onEnter: () => {},
  });
  builder.build({});
  builder.build();
  component.mount("#giftcard");
  component.mount(document.body);

  const balance: BalanceType = await component.balance();
  if (balance.status.state === "Valid" && balance.amount) {
    const minor: number = balance.amount.centAmount;
    const currency: string = balance.amount.currencyCode ?? balance.amount.currency;
    void minor;
    void currency;
  }
  // @ts-expect-error not a state of the seed
  if (balance.status.state === "Invalid") return;

  await component.submit({ amount: { centAmount: 1000, currencyCode: "EUR" } });
  await component.submit({ amount: { centAmount: 1000, currency: "EUR" } });
  await component.submit({});
  await component.submit();
  // @ts-expect-error an amount is minor units with a currency
  await component.submit({ amount: 10.5 });

  const host = document.querySelector("#giftcard");
  host?.addEventListener("giftcard:balance", (event) => {
    const detail = (event as GiftCardEventMap["giftcard:balance"]).detail;
    void detail.status.state;
  });
  // On an HTMLElement the events are known without a cast.
  document.getElementById("giftcard")?.addEventListener("giftcard:complete", (event) => {
    const paid: boolean = event.detail.isSuccess;
    void paid;
  });
}

function complete(result: PaymentResult): void {
  // @ts-expect-error isSuccess is a boolean, not the processor's result string
  if (result.isSuccess === "Success") return;
}

void checkout;
void complete;
