// The garbage-free polling path (PacketBatch, PacketView, LentText) against the
// real library and the local engine: a chatty character polled for many
// rounds, with every allocation of the polling thread counted.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading;
using Inworld;
using Inworld.Interop;

public static partial class CoreTests
{
    /// What a game that counts its garbage reads every frame, into buffers of
    /// its own made once.
    sealed class FrameReader
    {
        public readonly StringBuilder Said = new StringBuilder(1 << 16);
        public readonly float[] Samples = new float[1 << 16];
        public readonly char[] Speaker = new char[64];
        public string Story, Greeting;
        public int Texts, Chunks, SampleTotal, Visemes, Phonemes, Joy, Greeted, Sunny, Ends;

        public void Expect(SentIds story, SentIds greeting)
        {
            Story = story.InteractionId;
            Greeting = greeting.InteractionId;
            Ends = 0;
        }

        public void Read(PacketBatch batch)
        {
            for (int i = 0; i < batch.Count; i++)
            {
                var p = batch[i];
                bool mine = p.InteractionId.Equals(Story) || p.InteractionId.Equals(Greeting);
                if (!mine) continue;
                switch (p.Kind)
                {
                    case Native.IW_PACKET_TEXT:
                        if (!p.FromCharacter) break;
                        p.Text.AppendTo(Said);
                        Said.Append(' ');
                        p.SourceName.CopyTo(Speaker);
                        Texts++;
                        break;
                    case Native.IW_PACKET_AUDIO:
                        SampleTotal += p.CopySamples(Samples);
                        Chunks++;
                        for (int v = 0; v < p.VisemeCount; v++)
                            if (p.VisemeAt(v).Name.Length > 0) Visemes++;
                        for (int f = 0; f < p.PhonemeCount; f++)
                            if (p.PhonemeName(f).CharCount > 0 && p.PhonemeStartUs(f) >= 0) Phonemes++;
                        break;
                    case Native.IW_PACKET_EMOTION:
                        if (p.BehaviorName == "JOY" && p.StrengthName == "STRONG") Joy++;
                        break;
                    case Native.IW_PACKET_TRIGGER:
                        if (p.Name.Equals("greeted")) Greeted++;
                        LentText mood;
                        if (p.TryGetParameter("mood", out mood) && mood.Equals("sunny")) Sunny++;
                        break;
                    default:
                        if (p.IsInteractionEnd) Ends++;
                        break;
                }
            }
        }
    }

    public static void Polling_into_a_batch_makes_no_garbage_once_warm()
    {
        using (var client = new InworldClient(Config()))
        using (var session = ReadySession(client))
        {
            var batch = new PacketBatch(64);
            var reader = new FrameReader();
            var mood = new Dictionary<string, string> { { "mood", "sunny" } };
            const int warmUp = 3, measured = 12;
            long garbage = 0;
            int polls = 0, packets = 0;
            for (int round = 0; round < warmUp + measured; round++)
            {
                // Sending allocates (ids come back as strings): only polls and
                // reads are counted.
                reader.Expect(session.SendText("tell me a long story"), session.SendTrigger("greet", mood));
                var deadline = DateTime.UtcNow + Limit;
                while (reader.Ends < 2)
                {
                    long before = GC.GetAllocatedBytesForCurrentThread();
                    int n = session.Poll(batch);
                    reader.Read(batch);
                    long after = GC.GetAllocatedBytesForCurrentThread();
                    if (round >= warmUp)
                    {
                        garbage += after - before;
                        polls++;
                        packets += n;
                    }
                    if (n == 0)
                    {
                        if (DateTime.UtcNow > deadline) throw new Exception("never happened: the ends of round " + round);
                        Thread.Sleep(1);
                    }
                }
            }
            Console.WriteLine("     {0} polls, {1} packets ({2} texts, {3} speech chunks, {4} samples) read in {5} measured rounds: {6} bytes allocated",
                polls, packets, reader.Texts, reader.Chunks, reader.SampleTotal, measured, garbage);
            Expect(garbage == 0, "no garbage once warm, but " + garbage + " bytes in " + polls + " polls");

            // What was read is what was said.
            int rounds = warmUp + measured;
            var said = reader.Said.ToString();
            Expect(Count(said, "It began on a cold morning.") == rounds, "every story: " + said);
            Expect(Count(said, "You look sunny today.") == rounds, "every greeting: " + said);
            Expect(new string(reader.Speaker, 0, session.Characters[0].Id.Length) == session.Characters[0].Id, "Alice speaks");
            Expect(reader.Chunks > rounds && reader.SampleTotal > reader.Chunks, "speech");
            Expect(reader.Visemes > 0 && reader.Phonemes > 0, "visemes and phonemes");
            Expect(reader.Joy == rounds, "a strong joy each greeting: " + reader.Joy);
            Expect(reader.Greeted == rounds, "the character's trigger each greeting: " + reader.Greeted);
        }
    }

    static int Count(string text, string part)
    {
        int n = 0;
        for (int at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + 1, StringComparison.Ordinal)) n++;
        return n;
    }

    public static void Lent_packets_agree_with_copies_and_expire_at_the_next_poll()
    {
        using (var client = new InworldClient(Config()))
        using (var session = ReadySession(client))
        {
            var batch = new PacketBatch(64);
            var ids = session.SendText("héllo ünïcode ✓");
            var copies = new List<InworldPacket>();
            PacketView kept = default(PacketView);
            bool haveKept = false;
            WaitFor(() =>
            {
                session.Poll(batch);
                for (int i = 0; i < batch.Count; i++)
                {
                    var view = batch[i];
                    var copy = view.ToPacket();
                    copies.Add(copy);
                    Expect(view.Kind == copy.Kind && view.InteractionId.ToString() == copy.InteractionId
                        && view.SourceKind == copy.Source.Kind && view.SourceName.Equals(copy.Source.Name), "the view and its copy agree");
                    var text = copy as TextPacket;
                    if (text != null)
                    {
                        var chars = new char[view.Text.CharCount];
                        Expect(view.Text.CopyTo(chars) == chars.Length && new string(chars) == text.Text, "the same text: " + text.Text);
                        Expect(view.Text.Equals(text.Text) && !view.Text.Equals(text.Text + "!") && !view.Text.Equals(null), "Equals");
                        Expect(view.IsFinal == text.IsFinal, "IsFinal");
                        Throws<InvalidOperationException>(() => { var n = view.SampleCount; });
                        Throws<ArgumentException>(() => view.Text.CopyTo(new char[0]));
                        kept = view;
                        haveKept = true;
                    }
                    var audio = copy as AudioPacket;
                    if (audio != null)
                    {
                        var samples = new short[view.SampleCount];
                        view.CopySamples(samples);
                        Expect(samples.SequenceEqual(audio.Samples), "the same samples");
                        Expect(view.VisemeCount == audio.Visemes.Length && view.PhonemeCount == audio.Phonemes.Length, "the same mouth shapes");
                        for (int v = 0; v < view.VisemeCount; v++) Expect(view.VisemeAt(v).Shape == audio.Visemes[v].Shape, "viseme");
                        for (int f = 0; f < view.PhonemeCount; f++) Expect(view.PhonemeName(f).ToString() == audio.Phonemes[f].Name, "phoneme");
                        Throws<ArgumentException>(() => view.CopySamples(new short[0]));
                        Throws<InvalidOperationException>(() => { var t = view.Text; });
                    }
                }
                return copies.OfType<ControlPacket>().Any(c => c.IsInteractionEnd && c.InteractionId == ids.InteractionId);
            }, "the interaction end");
            Expect(Said(copies.Where(c => c.InteractionId == ids.InteractionId)).Contains("héllo ünïcode ✓"), "UTF-8: " + Said(copies));

            var empty = default(LentText);
            Expect(empty.IsEmpty && empty.Equals("") && empty.CopyTo(new char[0]) == 0 && empty.ToString() == "", "the default is the empty text");

            // Lent until the next poll, however it is done: then a view throws
            // instead of reading memory the library took back.
            Expect(haveKept, "a text was kept");
            session.Poll(batch); // the kept text may be of the last poll
            Throws<InvalidOperationException>(() => { var k = kept.Kind; });
            Throws<InvalidOperationException>(() => kept.ToPacket());
            session.SendText("and again");
            WaitFor(() => session.Poll(batch) > 0, "a packet");
            var view2 = batch[0];
            var lent = view2.InteractionId;
            Expect(lent.Utf8Length == 36, "an id");
            session.Poll(new List<InworldPacket>());
            Throws<InvalidOperationException>(() => lent.ToString());
            Throws<InvalidOperationException>(() => { var k = view2.Kind; });
            Throws<ArgumentOutOfRangeException>(() => { var v = batch[batch.Count]; });
            // That poll may have drained the whole reply: ask for another one
            // rather than hope some of this one was still on its way.
            session.SendText("one more");
            WaitFor(() => session.Poll(batch) > 0, "another packet");
            var last = batch[0];
            session.Dispose();
            Throws<InvalidOperationException>(() => { var k = last.Kind; });
        }
    }
}
